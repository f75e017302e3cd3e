/* shared_stub.c -- the one source of libpkpo_emu.so, which is the static pkpo_emu archive linked
 * whole (see CMakeLists.txt). CMake needs a source per library; this one defines nothing used. */
typedef int pkpo_emu_shared_stub;
