"""The `pkpo` console command of an installed package: runs the C command-line tool that the
package carries (pkpo/bin/pkpo, built by CMake beside libpkpo.so). exec, not a child process: the
tool's exit status, signals, stdin and stdout are the command's own."""

from __future__ import annotations

import os
import sys


def tool_path() -> str:
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "bin", "pkpo")


def main() -> None:
    exe = tool_path()
    if not os.access(exe, os.X_OK):
        sys.stderr.write("pkpo: the command-line tool is not in this installation (%s); the "
                         "package's wheel carries it: pip install a wheel built by "
                         "scripts/build_wheel.sh, or `pip install .` from the repository\n" % exe)
        sys.exit(2)
    sys.stdout.flush()
    os.execv(exe, ["pkpo"] + sys.argv[1:])
