//! A seccomp filter that refuses io_uring to one child process, as a host with
//! `kernel.io_uring_disabled = 2` or Docker's default seccomp profile does: `io_uring_setup`
//! fails with EPERM, every other system call is allowed. Installed between fork and exec
//! (`Command::pre_exec`), so only that child is affected, never the tests running beside it.
#![allow(dead_code)]

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xC000_003E; // AUDIT_ARCH_X86_64
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xC000_00B7; // AUDIT_ARCH_AARCH64

/// Installs a seccomp filter on the calling thread: io_uring_setup fails with EPERM, every
/// other system call is allowed. Only async-signal-safe calls (it runs between fork and exec).
pub fn refuse_io_uring() -> std::io::Result<()> {
    // Offsets in struct seccomp_data: nr at 0, arch at 4.
    let stmt = |code: u32, k: u32| libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    };
    let jump = |code: u32, k: u32, jt: u8, jf: u8| libc::sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    };
    let mut program = [
        stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 4),
        jump(
            libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K,
            AUDIT_ARCH,
            0,
            3,
        ),
        stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 0),
        jump(
            libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K,
            libc::SYS_io_uring_setup as u32,
            0,
            1,
        ),
        stmt(
            libc::BPF_RET | libc::BPF_K,
            libc::SECCOMP_RET_ERRNO | libc::EPERM as u32,
        ),
        stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW),
    ];
    let fprog = libc::sock_fprog {
        len: program.len() as u16,
        filter: program.as_mut_ptr(),
    };
    // SAFETY: prctl with a valid, live filter program; no memory is allocated.
    unsafe {
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER,
            &fprog as *const libc::sock_fprog,
        ) != 0
        {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// `io_uring_register(2)` opcodes a Linux 5.15 kernel does not know, and answers with EINVAL:
/// IORING_REGISTER_FILES2 (sparse file tables, 5.19), IORING_REGISTER_PBUF_RING (buffer rings,
/// 5.19), IORING_REGISTER_SYNC_CANCEL (6.0).
pub const REGISTER_OPS_NEWER_THAN_5_15: [u32; 3] = [13, 22, 24];

/// A `pre_exec` hook installing a seccomp filter on the child: `io_uring_register` with one of
/// `ops` fails with EINVAL, as on a kernel that predates those opcodes; every other call (and
/// every other register opcode) is allowed. The program is built here, before the fork: the
/// hook itself only calls prctl(2).
pub fn register_ops_unknown(
    ops: &[u32],
) -> impl FnMut() -> std::io::Result<()> + Send + Sync + 'static {
    let stmt = |code: u32, k: u32| libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    };
    let jump = |code: u32, k: u32, jt: u8, jf: u8| libc::sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    };
    let n = ops.len() as u8;
    let jeq = libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K;
    let load = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
    // Offsets in struct seccomp_data: nr at 0, arch at 4, args[1] (low half) at 24. A jump
    // skips `jt`/`jf` instructions: ALLOW is at 5 + n, EINVAL at 6 + n.
    let mut program = vec![
        stmt(load, 4),
        jump(jeq, AUDIT_ARCH, 0, 3 + n),
        stmt(load, 0),
        jump(jeq, libc::SYS_io_uring_register as u32, 0, 1 + n),
        stmt(load, 24),
    ];
    for (k, &op) in ops.iter().enumerate() {
        program.push(jump(jeq, op, n - k as u8, 0));
    }
    program.push(stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW));
    program.push(stmt(
        libc::BPF_RET | libc::BPF_K,
        libc::SECCOMP_RET_ERRNO | libc::EINVAL as u32,
    ));
    struct Program(Vec<libc::sock_filter>);
    // SAFETY: plain data (no pointers), only read by the hook.
    unsafe impl Send for Program {}
    // SAFETY: as above.
    unsafe impl Sync for Program {}
    let mut program = Program(program);
    move || {
        let fprog = libc::sock_fprog {
            len: program.0.len() as u16,
            filter: program.0.as_mut_ptr(),
        };
        // SAFETY: prctl with a valid, live filter program; no memory is allocated.
        unsafe {
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER,
                &fprog as *const libc::sock_fprog,
            ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(())
    }
}

/// Installs a seccomp filter on the calling thread: `setsockopt(fd, SOL_SOCKET,
/// SO_ATTACH_REUSEPORT_CBPF, ...)` fails with EPERM, as under a policy that forbids socket
/// filters; every other call (and every other socket option) is allowed. For `pre_exec`.
pub fn refuse_reuseport_cbpf() -> std::io::Result<()> {
    let stmt = |code: u32, k: u32| libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    };
    let jump = |code: u32, k: u32, jt: u8, jf: u8| libc::sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    };
    let jeq = libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K;
    let load = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
    // Offsets in struct seccomp_data: nr at 0, arch at 4, args[2] (optname, low half) at 32.
    let mut program = [
        stmt(load, 4),
        jump(jeq, AUDIT_ARCH, 0, 4),
        stmt(load, 0),
        jump(jeq, libc::SYS_setsockopt as u32, 0, 2),
        stmt(load, 32),
        jump(jeq, libc::SO_ATTACH_REUSEPORT_CBPF as u32, 1, 0),
        stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW),
        stmt(
            libc::BPF_RET | libc::BPF_K,
            libc::SECCOMP_RET_ERRNO | libc::EPERM as u32,
        ),
    ];
    let fprog = libc::sock_fprog {
        len: program.len() as u16,
        filter: program.as_mut_ptr(),
    };
    // SAFETY: prctl with a valid, live filter program; no memory is allocated.
    unsafe {
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER,
            &fprog as *const libc::sock_fprog,
        ) != 0
        {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}
