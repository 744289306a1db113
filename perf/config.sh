# Sourced by the perf scripts (bash): writes handoff's config from perf/two-trunks.toml.
#
#   render_config OUT listen=127.0.0.1:5060 admin=off shards=2 io=uring media_start=20000 \
#       media_end=30000 audit=/tmp/a.jsonl carrier=127.0.0.1:5080 platform=127.0.0.1:5070 \
#       sbc_extra='cpus = [0, 1]'
#
# Every {placeholder} of the template must be given (sbc_extra may be empty); a placeholder left
# over is an error, so a new one cannot silently reach handoff as text.
render_config() {
    local out=$1
    shift
    local template
    template=$(cat "$(dirname "${BASH_SOURCE[0]}")/two-trunks.toml")
    local pair key value
    for pair in "$@"; do
        key=${pair%%=*}
        value=${pair#*=}
        template=${template//"{$key}"/"$value"}
    done
    if grep -q '{[a-z_]*}' <<<"$template"; then
        echo "render_config: placeholders left in the config: $(grep -o '{[a-z_]*}' <<<"$template" | sort -u | tr '\n' ' ')" >&2
        return 1
    fi
    printf '%s\n' "$template" >"$out"
}
