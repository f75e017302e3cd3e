/* emu_shared.c -- the one source of libpkpo_emu.so, which is the static pkpo_emu archive linked
 * whole (see CMakeLists.txt). CMake needs a source per library; this one adds no code of its own. */
typedef int pkpo_emu_shared_unit;
