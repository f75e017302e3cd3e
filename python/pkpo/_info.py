"""What this installation of pkpo is: version, backends built, and whether CUDA is usable here
and, if not, why. Every fact comes from the loaded libpkpo (its version, pkpo_backend_available, and
the reason a CUDA pkpo_create fails), so the answer is the one `pkpo --version` prints
(src/cli/help.c) for the same library."""

from __future__ import annotations

from . import _capi


def cuda_status():
    """(status, reason): ("available", ""), ("not built", "") or ("not usable", the library's
    reason: no device, no driver, or a device whose architecture has no code in this build)."""
    if _capi.cuda_available():
        return "available", ""
    try:
        _capi.Handle(_capi.BACKEND_CUDA).close()
    except _capi.PkpoError as e:
        if e.status_name == "PKPO_ERROR_UNSUPPORTED":
            return "not built", ""
        return "not usable", e.message
    return "available", ""


def build_info() -> dict:
    """{"version", "library" (path of the loaded libpkpo), "backends" (built: ["cpu"] or
    ["cpu", "cuda"]), "cuda_available" (bool), "cuda" (the text of `pkpo --version`'s cuda line:
    "available", "not built" or "not usable: <reason>")}."""
    status, why = cuda_status()
    return {
        "version": _capi.version_string(),
        "library": _capi.library_path(),
        "backends": ["cpu"] if status == "not built" else ["cpu", "cuda"],
        "cuda_available": status == "available",
        "cuda": status + (": " + why if why else ""),
    }
