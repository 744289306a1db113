//! Which shard reads a SIP datagram (`sbc.sip_steering`).
//!
//! Every shard's SIP socket is bound to `sbc.listen` with SO_REUSEPORT, one after another in
//! `Server::start` (shard 0 first, on one thread), so socket *i* of the kernel's reuseport group
//! is shard *i*'s. By default the kernel picks a socket by a hash of the 4-tuple: one carrier
//! sending every call from one ip:port is then read by one shard. With `sip_steering = "cpu"` a
//! classic BPF program on the group (SO_ATTACH_REUSEPORT_CBPF) returns, per datagram, the index
//! of the shard on the CPU that received it (`SKF_AD_CPU`: where the softirq runs, i.e. the NIC
//! queue's CPU): with `sbc.cpus`, the shard pinned to that CPU (a JEQ chain; a CPU no shard is
//! pinned to: cpu % shards); without, cpu % shards. The read then stays on the CPU whose cache
//! holds the packet. An index the group does not have makes the kernel fall back to its hash.
//!
//! Reading is all steering decides. Whichever shard reads a datagram passes it on to the shard
//! that owns it (`ids::owner_of_datagram`: the shard in a tag or branch handoff minted, else the
//! Call-ID's FNV-1a hash), and the owner takes the call's media ports from its own pool. So one
//! carrier's calls spread over every shard even from one ip:port, under either mode.

use std::fmt;
use std::io;
use std::os::fd::RawFd;

use crate::config::SipSteering;

use super::uring_sys;

/// One classic BPF instruction (`struct sock_filter`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BpfInsn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

const fn insn(code: u32, jt: u8, jf: u8, k: u32) -> BpfInsn {
    BpfInsn {
        code: code as u16,
        jt,
        jf,
        k,
    }
}

/// `ld [SKF_AD_OFF + SKF_AD_CPU]`: the number of the CPU running the filter.
const LOAD_CPU: BpfInsn = insn(
    libc::BPF_LD | libc::BPF_W | libc::BPF_ABS,
    0,
    0,
    (libc::SKF_AD_OFF + libc::SKF_AD_CPU) as u32,
);

/// The program that maps the receiving CPU to a shard (socket) index: `cpus[i] -> i` for a
/// pinned shard (`cpus` empty: none pinned), any other CPU to `cpu % shards`.
pub fn cpu_program(shards: usize, cpus: &[usize]) -> Vec<BpfInsn> {
    let shards = u32::try_from(shards.max(1)).unwrap_or(u32::MAX);
    let mut program = vec![LOAD_CPU];
    for (shard, cpu) in cpus.iter().enumerate().take(shards as usize) {
        let (Ok(cpu), Ok(shard)) = (u32::try_from(*cpu), u32::try_from(shard)) else {
            continue;
        };
        // A == cpu: fall through to `ret shard`; else jump over it.
        program.push(insn(libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K, 0, 1, cpu));
        program.push(insn(libc::BPF_RET | libc::BPF_K, 0, 0, shard));
    }
    program.push(insn(
        libc::BPF_ALU | libc::BPF_MOD | libc::BPF_K,
        0,
        0,
        shards,
    ));
    program.push(insn(libc::BPF_RET | libc::BPF_A, 0, 0, 0));
    program
}

/// How the SIP sockets are steered after start-up, for the log line and `handoff check`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Steering {
    /// One shard: nothing to choose.
    SingleShard,
    /// `sip_steering = "hash"`: the kernel's 4-tuple hash.
    Hash,
    /// The CPU program is attached.
    Cpu { shards: usize, cpus: Vec<usize> },
    /// `sip_steering = "cpu"`, but the kernel refused the program: the 4-tuple hash applies.
    CpuRefused { error: String },
}

impl Steering {
    /// What the configuration asks for, before any socket exists (`handoff check`).
    pub fn planned(mode: SipSteering, shards: usize, cpus: &[usize]) -> Steering {
        match mode {
            _ if shards <= 1 => Steering::SingleShard,
            SipSteering::Hash => Steering::Hash,
            SipSteering::Cpu => Steering::Cpu {
                shards,
                cpus: cpus.to_vec(),
            },
        }
    }

    /// The mode in effect: `"cpu"`, `"hash"` or `"single"`.
    pub fn mode(&self) -> &'static str {
        match self {
            Steering::SingleShard => "single",
            Steering::Hash | Steering::CpuRefused { .. } => "hash",
            Steering::Cpu { .. } => "cpu",
        }
    }
}

impl fmt::Display for Steering {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Steering::SingleShard => write!(f, "none (one shard reads every datagram)"),
            Steering::Hash => write!(
                f,
                "hash (the kernel picks the shard by 4-tuple: one peer ip:port is read by one shard)"
            ),
            Steering::Cpu { shards, cpus } if cpus.is_empty() => write!(
                f,
                "cpu (the shard for the receiving cpu reads: cpu % {shards}; pin shards with sbc.cpus)"
            ),
            Steering::Cpu { cpus, .. } => {
                write!(f, "cpu (the shard pinned to the receiving cpu reads:")?;
                for (shard, cpu) in cpus.iter().enumerate() {
                    write!(f, " cpu {cpu} -> shard {shard}")?;
                    if shard + 1 < cpus.len() {
                        write!(f, ",")?;
                    }
                }
                write!(f, ")")
            }
            Steering::CpuRefused { error } => write!(
                f,
                "hash (sip_steering = \"cpu\", but the kernel refused SO_ATTACH_REUSEPORT_CBPF: \
                 {error}; the kernel picks the shard by 4-tuple)"
            ),
        }
    }
}

/// Steers the reuseport group of `sip_fd` (any one shard's SIP socket, once every shard's is
/// bound) as `mode` asks. A refused program (an old kernel, a seccomp policy) leaves the
/// kernel's hash and says why in the answer; it is never an error.
pub fn steer(mode: SipSteering, shards: usize, cpus: &[usize], sip_fd: RawFd) -> Steering {
    let planned = Steering::planned(mode, shards, cpus);
    if !matches!(planned, Steering::Cpu { .. }) {
        return planned;
    }
    match attach(sip_fd, &cpu_program(shards, cpus)) {
        Ok(()) => planned,
        Err(error) => Steering::CpuRefused {
            error: error.to_string(),
        },
    }
}

fn attach(fd: RawFd, program: &[BpfInsn]) -> io::Result<()> {
    let mut filter: Vec<libc::sock_filter> = program
        .iter()
        .map(|i| libc::sock_filter {
            code: i.code,
            jt: i.jt,
            jf: i.jf,
            k: i.k,
        })
        .collect();
    uring_sys::attach_reuseport_cbpf(fd, &mut filter)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the subset of classic BPF the program uses, with `cpu` as the ancillary CPU.
    fn run(program: &[BpfInsn], cpu: u32) -> u32 {
        let (mut a, mut pc) = (0u32, 0usize);
        loop {
            let i = program[pc];
            let code = u32::from(i.code);
            match code {
                c if c == libc::BPF_LD | libc::BPF_W | libc::BPF_ABS => {
                    assert_eq!(i.k, (libc::SKF_AD_OFF + libc::SKF_AD_CPU) as u32);
                    a = cpu;
                }
                c if c == libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K => {
                    pc += usize::from(if a == i.k { i.jt } else { i.jf });
                }
                c if c == libc::BPF_ALU | libc::BPF_MOD | libc::BPF_K => a %= i.k,
                c if c == libc::BPF_RET | libc::BPF_K => return i.k,
                c if c == libc::BPF_RET | libc::BPF_A => return a,
                other => panic!("unexpected opcode {other:#x}"),
            }
            pc += 1;
        }
    }

    #[test]
    fn pinned_shards_read_what_their_cpu_received() {
        let program = cpu_program(3, &[4, 2, 7]);
        assert_eq!(run(&program, 4), 0);
        assert_eq!(run(&program, 2), 1);
        assert_eq!(run(&program, 7), 2);
        // A cpu no shard is pinned to: cpu % shards.
        assert_eq!(run(&program, 0), 0);
        assert_eq!(run(&program, 5), 2);
    }

    #[test]
    fn unpinned_shards_take_cpu_modulo_shards() {
        let program = cpu_program(2, &[]);
        assert_eq!(program.len(), 3);
        for cpu in 0..8 {
            assert_eq!(run(&program, cpu), cpu % 2);
        }
    }

    #[test]
    fn plan_follows_the_config() {
        assert_eq!(
            Steering::planned(SipSteering::Cpu, 1, &[0]),
            Steering::SingleShard
        );
        assert_eq!(Steering::planned(SipSteering::Hash, 2, &[]).mode(), "hash");
        let cpu = Steering::planned(SipSteering::Cpu, 2, &[0, 1]);
        assert_eq!(cpu.mode(), "cpu");
        assert_eq!(
            cpu.to_string(),
            "cpu (the shard pinned to the receiving cpu reads: cpu 0 -> shard 0, cpu 1 -> shard 1)"
        );
    }
}
