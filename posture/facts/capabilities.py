"""Linux capabilities that amount to control of the host or of the kernel, for a container or a pod.

Adding any other capability beyond a runtime's defaults is a finding of the rule's own severity; adding
one of these raises DKR-CAP-ADD and K8S-PSS-CAPABILITIES to high (``ALL`` to critical for Docker). The
list is ours, not a benchmark's (CIS Docker 5.3 and the Pod Security Standards only say "not beyond
the defaults"); capabilities(7) is the source for each entry:

- ``ALL``: every capability below.
- ``SYS_ADMIN`` (mount, namespaces, most of the kernel), ``SYS_MODULE`` (load kernel code),
  ``SYS_RAWIO`` (raw I/O ports and devices), ``SYS_PTRACE`` (trace and inject into any process),
  ``DAC_READ_SEARCH`` (open any host file by handle: the "shocker" escape), ``NET_ADMIN`` (the
  host's network when it shares it), ``BPF`` and ``PERFMON`` (load BPF programs, read kernel memory
  through perf), ``SYS_BOOT`` (reboot the host, load a new kernel), ``SYS_TIME`` (the host's clock is
  not namespaced), ``MAC_ADMIN``/``MAC_OVERRIDE`` (change or bypass AppArmor/SELinux/Smack),
  ``SYSLOG`` (the kernel log and its addresses), ``LINUX_IMMUTABLE`` (the host's immutable files).
"""

from __future__ import annotations

from collections.abc import Iterable

DANGEROUS_CAPABILITIES = frozenset(
    {
        "ALL",
        "SYS_ADMIN",
        "SYS_PTRACE",
        "SYS_MODULE",
        "SYS_RAWIO",
        "DAC_READ_SEARCH",
        "NET_ADMIN",
        "SYS_BOOT",
        "BPF",
        "PERFMON",
        "SYS_TIME",
        "MAC_ADMIN",
        "MAC_OVERRIDE",
        "SYSLOG",
        "LINUX_IMMUTABLE",
    }
)


def capability_name(raw: object) -> str:
    """The name Docker and Kubernetes both accept, spelled one way: ``cap_sys_admin`` → ``SYS_ADMIN``."""
    return str(raw).strip().upper().removeprefix("CAP_")


def dangerous(capabilities: Iterable[object]) -> list[str]:
    """The dangerous ones among ``capabilities`` (any spelling), by their canonical names, sorted."""
    return sorted({capability_name(c) for c in capabilities} & DANGEROUS_CAPABILITIES)
