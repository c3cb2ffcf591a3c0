"""Kernel confinement for one sandboxed process: namespaces, Landlock, seccomp, capabilities,
resource limits. Linux only; every feature is probed and used only where the kernel allows it.

This module runs inside the sandbox worker (a small interpreter started by the pool) and
imports nothing but the standard library. Each function either succeeds or raises OSError; the
worker records which features are in force (`Confinement`) so the caller can report them.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import platform
import resource
import struct
from collections.abc import Iterable

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long

CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_THREAD = 0x00010000

_MACHINE = platform.machine()
_MQ_CALLS = (
    "mq_open",
    "mq_unlink",
    "mq_timedsend",
    "mq_timedreceive",
    "mq_notify",
    "mq_getsetattr",
)
# System V IPC and POSIX message queues: objects that outlive a process, where one candidate
# could leave something for the next
IPC_CALLS = (
    "shmget",
    "shmat",
    "shmctl",
    "shmdt",
    "semget",
    "semop",
    "semtimedop",
    "semctl",
    "msgget",
    "msgsnd",
    "msgrcv",
    "msgctl",
    *_MQ_CALLS,
)
# syscall numbers that differ by architecture; None where the call does not exist
_SYSCALLS: dict[str, dict[str, int | None]] = {
    "x86_64": {
        "arch": 0xC000003E,
        "landlock_create_ruleset": 444,
        "landlock_add_rule": 445,
        "landlock_restrict_self": 446,
        "fork": 57,
        "vfork": 58,
        "clone": 56,
        "clone3": 435,
        "kill": 62,
        "tkill": 200,
        "tgkill": 234,
        "ptrace": 101,
        "process_vm_readv": 310,
        "process_vm_writev": 311,
        "pidfd_open": 434,
        "pidfd_send_signal": 424,
        "socket": 41,
        "socketpair": 53,
        "setns": 308,
        "unshare": 272,
        **{name: number for number, name in enumerate(("shmget", "shmat", "shmctl"), 29)},
        **{
            name: number
            for number, name in enumerate(
                ("semget", "semop", "semctl", "shmdt", "msgget", "msgsnd", "msgrcv", "msgctl"), 64
            )
        },
        "semtimedop": 220,
        **{name: number for number, name in enumerate(_MQ_CALLS, 240)},
    },
    "aarch64": {
        "arch": 0xC00000B7,
        "landlock_create_ruleset": 444,
        "landlock_add_rule": 445,
        "landlock_restrict_self": 446,
        "fork": None,
        "vfork": None,
        "clone": 220,
        "clone3": 435,
        "kill": 129,
        "tkill": 130,
        "tgkill": 131,
        "ptrace": 117,
        "process_vm_readv": 270,
        "process_vm_writev": 271,
        "pidfd_open": 434,
        "pidfd_send_signal": 424,
        "socket": 198,
        "socketpair": 199,
        "setns": 268,
        "unshare": 97,
        **{name: number for number, name in enumerate(_MQ_CALLS, 180)},
        **{
            name: number
            for number, name in enumerate(
                ("msgget", "msgctl", "msgrcv", "msgsnd", "semget", "semctl", "semtimedop"), 186
            )
        },
        **{
            name: number
            for number, name in enumerate(("semop", "shmget", "shmctl", "shmat", "shmdt"), 193)
        },
    },
}
_NR: dict[str, int | None] | None = _SYSCALLS.get(_MACHINE)


def _check(result: int) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return result


def _syscall(name: str, *args: object) -> int:
    number = _NR.get(name) if _NR is not None else None
    if number is None:
        raise OSError(errno.ENOSYS, f"{name} is not supported on {_MACHINE}")
    return _check(_libc.syscall(number, *args))


# ---------------------------------------------------------------- namespaces


def unshare(flags: int) -> None:
    _check(_libc.unshare(ctypes.c_int(flags)))


def setns(fd: int, nstype: int) -> None:
    _check(_libc.setns(ctypes.c_int(fd), ctypes.c_int(nstype)))


def enter_user_namespace() -> None:
    """For an unprivileged caller: a user namespace where it is root, so that it may create
    network and PID namespaces. Its files stay those of the real user."""
    uid, gid = os.getuid(), os.getgid()
    unshare(CLONE_NEWUSER)
    with open("/proc/self/setgroups", "w") as handle:
        handle.write("deny")
    with open("/proc/self/uid_map", "w") as handle:
        handle.write(f"0 {uid} 1")
    with open("/proc/self/gid_map", "w") as handle:
        handle.write(f"0 {gid} 1")


# ---------------------------------------------------------------- process attributes

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_NAME = 15
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_SET_CHILD_SUBREAPER = 36
PR_SET_SECCOMP = 22
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
SECCOMP_MODE_FILTER = 2


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    return _check(
        _libc.prctl(
            ctypes.c_int(option),
            ctypes.c_ulong(arg2),
            ctypes.c_ulong(arg3),
            ctypes.c_ulong(arg4),
            ctypes.c_ulong(arg5),
        )
    )


def set_not_dumpable() -> None:
    """No core dumps, and no other process without CAP_SYS_PTRACE (a neighbour whose
    capabilities were dropped) may attach to this one or read /proc/<pid>/mem, even where
    Landlock does not hide /proc."""
    prctl(PR_SET_DUMPABLE, 0)


def set_parent_death_signal(signal: int) -> None:
    prctl(PR_SET_PDEATHSIG, signal)


def set_process_name(name: str) -> None:
    """The name `ps` and /proc/<pid>/comm show (15 bytes at most): tells the sandbox's
    processes apart, since they all run the worker's command line."""
    buffer = ctypes.create_string_buffer(name.encode()[:15])
    prctl(PR_SET_NAME, ctypes.addressof(buffer))


def set_child_subreaper() -> None:
    prctl(PR_SET_CHILD_SUBREAPER, 1)


def set_no_new_privs() -> None:
    prctl(PR_SET_NO_NEW_PRIVS, 1)


_LAST_CAP: list[int] = []


def last_capability() -> int:
    if not _LAST_CAP:
        try:
            with open("/proc/sys/kernel/cap_last_cap") as handle:
                _LAST_CAP.append(int(handle.read()))
        except (OSError, ValueError):
            _LAST_CAP.append(63)
    return _LAST_CAP[0]


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def drop_capabilities(bounding: bool = True) -> None:
    """Give up every capability (bounding, ambient, effective, permitted, inheritable): a root
    process keeps uid 0 but can no longer mount, reboot, load modules, override file
    permissions or raise its resource limits. `bounding=False` leaves the bounding set to a
    parent that emptied it already (`drop_bounding_set`): it is inherited, and emptying it
    is most of the cost."""
    if bounding:
        drop_bounding_set()
    with contextlib.suppress(OSError):  # kernels before 4.3 have no ambient set
        prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    header = _CapHeader(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
    data = (_CapData * 2)()
    _check(_libc.capset(ctypes.byref(header), data))


def drop_bounding_set() -> None:
    """Empty the capability bounding set, so that no execve (of a set-user-ID root program
    or a file with capabilities) can give any capability back. The effective set, which
    the caller may still need, is untouched."""
    for cap in range(last_capability() + 1):
        try:
            prctl(PR_CAPBSET_DROP, cap)
        except OSError as exc:
            if exc.errno == errno.EINVAL:  # past the last capability this kernel knows
                break
            raise


def set_limits(limits: Iterable[tuple[int, int]]) -> None:
    """setrlimit with soft = hard, so the sandboxed code cannot raise them again."""
    for which, value in limits:
        resource.setrlimit(which, (value, value))


# ---------------------------------------------------------------- Landlock

FS_EXECUTE = 1 << 0
FS_WRITE_FILE = 1 << 1
FS_READ_FILE = 1 << 2
FS_READ_DIR = 1 << 3
FS_TRUNCATE = 1 << 14
FS_IOCTL_DEV = 1 << 15
NET_BIND_TCP = 1 << 0
NET_CONNECT_TCP = 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0
SCOPE_SIGNAL = 1 << 1
_FILE_RIGHTS = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV


def landlock_abi() -> int:
    """The Landlock ABI version the kernel offers; 0 when Landlock is off or unknown."""
    try:
        return _syscall("landlock_create_ruleset", None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    except OSError:
        return 0


def _fs_rights(abi: int) -> int:
    rights = (1 << 13) - 1  # ABI 1: execute .. make_sym
    if abi >= 2:
        rights |= 1 << 13  # refer
    if abi >= 3:
        rights |= FS_TRUNCATE
    if abi >= 5:
        rights |= FS_IOCTL_DEV
    return rights


def landlock_ruleset(read_paths: Iterable[str], write_paths: Iterable[str], abi: int) -> int:
    """A ruleset fd: read (and execute) beneath `read_paths`, everything beneath
    `write_paths`, nothing elsewhere; no TCP bind or connect (ABI 4+); no signals to, and
    no abstract unix sockets of, processes outside the sandbox (ABI 6+). Apply it with
    `landlock_restrict`. Paths that do not exist are skipped."""
    handled_fs = _fs_rights(abi)
    handled_net = NET_BIND_TCP | NET_CONNECT_TCP if abi >= 4 else 0
    scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if abi >= 6 else 0
    if abi >= 6:
        attr = struct.pack("QQQ", handled_fs, handled_net, scoped)
    elif abi >= 4:
        attr = struct.pack("QQ", handled_fs, handled_net)
    else:
        attr = struct.pack("Q", handled_fs)
    buf = ctypes.create_string_buffer(attr, len(attr))
    ruleset = _syscall("landlock_create_ruleset", buf, ctypes.c_size_t(len(attr)), 0)
    read_rights = FS_EXECUTE | FS_READ_FILE | FS_READ_DIR
    for paths, rights in ((read_paths, read_rights), (write_paths, handled_fs)):
        for path in paths:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                allowed = rights & handled_fs
                if not os.path.isdir(path):
                    allowed &= _FILE_RIGHTS
                rule = ctypes.create_string_buffer(struct.pack("=Qi", allowed, fd), 12)
                _syscall("landlock_add_rule", ruleset, 1, rule, 0)  # LANDLOCK_RULE_PATH_BENEATH
            finally:
                os.close(fd)
    return ruleset


def landlock_restrict(ruleset: int) -> None:
    _syscall("landlock_restrict_self", ruleset, 0)


# ---------------------------------------------------------------- seccomp

_BPF_LD_W_ABS = 0x20
_BPF_JEQ_K = 0x15
_BPF_JSET_K = 0x45
_BPF_RET_K = 0x06
_RET_ALLOW = 0x7FFF0000
_RET_KILL_PROCESS = 0x80000000
_RET_ERRNO = 0x00050000
_AF_UNIX = 1


def _bpf(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("HBBI", code, jt, jf, k & 0xFFFFFFFF)


def seccomp_supported() -> bool:
    return _NR is not None


def _seccomp_program(self_pid: int) -> bytes:
    """Deny creating processes (threads stay allowed), signalling or tracing any process but
    itself, opening any socket but a unix one, and System V IPC and POSIX message queues.
    Other architectures' calling conventions on this machine (x32, i386) are refused
    outright."""
    assert _NR is not None
    nr = {name: number for name, number in _NR.items() if number is not None}
    deny = _RET_ERRNO | errno.EPERM
    prog: list[bytes] = []

    def ret(value: int) -> None:
        prog.append(_bpf(_BPF_RET_K, value))

    # The checks are a chain of "if nr == X: <block>"; each block ends in a return.
    blocks: list[tuple[int, list[bytes]]] = []

    def deny_block() -> list[bytes]:
        return [_bpf(_BPF_RET_K, deny)]

    def only_if_arg0(values: tuple[int, ...]) -> list[bytes]:
        body = [_bpf(_BPF_LD_W_ABS, 16)]  # args[0], low 32 bits
        for i, value in enumerate(values):
            remaining = len(values) - i - 1
            body.append(_bpf(_BPF_JEQ_K, value, jt=remaining + 1, jf=0))
        body.append(_bpf(_BPF_RET_K, deny))
        body.append(_bpf(_BPF_RET_K, _RET_ALLOW))
        return body

    for name in ("fork", "vfork", "ptrace", "process_vm_readv", "process_vm_writev"):
        if name in nr:
            blocks.append((nr[name], deny_block()))
    for name in ("tkill", "pidfd_open", "pidfd_send_signal", "setns", "unshare", *IPC_CALLS):
        blocks.append((nr[name], deny_block()))
    blocks.append(
        (nr["clone3"], [_bpf(_BPF_RET_K, _RET_ERRNO | errno.ENOSYS)])
    )  # libc falls back to clone
    blocks.append(
        (
            nr["clone"],
            [
                _bpf(_BPF_LD_W_ABS, 16),
                _bpf(_BPF_JSET_K, CLONE_THREAD, jt=0, jf=1),
                _bpf(_BPF_RET_K, _RET_ALLOW),
                _bpf(_BPF_RET_K, deny),
            ],
        )
    )
    blocks.append((nr["kill"], only_if_arg0((0, self_pid, (-self_pid) & 0xFFFFFFFF))))
    blocks.append((nr["tgkill"], only_if_arg0((self_pid,))))
    blocks.append((nr["socket"], only_if_arg0((_AF_UNIX,))))
    blocks.append((nr["socketpair"], only_if_arg0((_AF_UNIX,))))

    prog.append(_bpf(_BPF_LD_W_ABS, 4))  # arch
    prog.append(_bpf(_BPF_JEQ_K, nr["arch"], jt=1, jf=0))
    ret(_RET_KILL_PROCESS)
    prog.append(_bpf(_BPF_LD_W_ABS, 0))  # syscall number
    if _MACHINE == "x86_64":
        prog.append(_bpf(0x35, 0x40000000, jt=0, jf=1))  # JGE: x32 ABI
        ret(deny)
    for number, body in blocks:
        # if nr != number: skip this block (and the reload of nr that follows it)
        prog.append(_bpf(_BPF_JEQ_K, number, jt=0, jf=len(body) + 0))
        prog.extend(body)
        # blocks that load args clobber the accumulator; the next check needs nr again, but
        # every block returns, so control only reaches here by the jf jump with nr intact.
    ret(_RET_ALLOW)
    return b"".join(prog)


_PROGRAMS: dict[int, bytes] = {}


def seccomp_program_for(pid: int) -> bytes:
    """The filter for a process with this pid, built once per pid value (always 1 in a PID
    namespace, so a worker builds it once)."""
    if pid not in _PROGRAMS:
        _PROGRAMS[pid] = _seccomp_program(pid)
    return _PROGRAMS[pid]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def install_seccomp() -> None:
    """Install the filter for this process and all it creates (needs no_new_privs)."""
    program = seccomp_program_for(os.getpid())
    buf = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.cast(buf, ctypes.c_void_p))
    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(fprog))
