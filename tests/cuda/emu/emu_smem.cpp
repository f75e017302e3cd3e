/*
 * emu_smem.cpp -- a kernel's static shared memory on the emulated device.
 *
 * cuda_runtime.h makes `__shared__` a function-local `static`, so a kernel's shared variables
 * would keep the previous block's values, which CUDA leaves undefined. The emulator poisons them
 * before every block, as it does dynamic shared memory. To find them without changing the kernel
 * sources it reads the symbol table of the module (executable or shared library) that holds the
 * kernel: the statics of a function whose symbol is _Z<encoding> are the objects named
 * _ZZ<encoding>E<name> (Itanium C++ ABI, "local names"). GCC ignores section attributes on the
 * statics of templates, so this is the one way that works for every kernel of src/cuda.
 *
 * Shared variables declared in a __device__ function instead of the kernel itself are not found
 * (src/cuda declares every one in a __global__ function); a module without a symbol table (a
 * stripped binary) gets a warning on stderr and no poisoning.
 */
#include "emu_internal.h"

#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace pkpo_emu {
namespace detail {
namespace {

struct Symbol {
  uintptr_t addr;
  size_t size;
  unsigned char type;
};

/* The symbols of one loaded module, by name, at their run-time addresses. */
struct Module {
  uintptr_t bias = 0;
  std::map<std::string, Symbol> by_name;
  std::map<uintptr_t, std::string> function_at;
};

struct FindModule {
  uintptr_t addr;
  uintptr_t bias;
  std::string path;
  bool found;
};

int find_module(struct dl_phdr_info* info, size_t, void* data) {
  FindModule* f = static_cast<FindModule*>(data);
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD) continue;
    const uintptr_t lo = info->dlpi_addr + ph.p_vaddr;
    if (f->addr >= lo && f->addr < lo + ph.p_memsz) {
      f->bias = info->dlpi_addr;
      f->path = info->dlpi_name && info->dlpi_name[0] ? info->dlpi_name : "/proc/self/exe";
      f->found = true;
      return 1;
    }
  }
  return 0;
}

/* Reads the static symbol table (.symtab) of an ELF file. Returns false if it has none. */
bool read_symbols(const std::string& path, uintptr_t bias, Module* m) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st;
  if (fstat(fd, &st) != 0 || (size_t)st.st_size < sizeof(ElfW(Ehdr))) {
    close(fd);
    return false;
  }
  const size_t bytes = (size_t)st.st_size;
  void* map = mmap(nullptr, bytes, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (map == MAP_FAILED) return false;
  const unsigned char* base = static_cast<const unsigned char*>(map);
  const ElfW(Ehdr)* eh = reinterpret_cast<const ElfW(Ehdr)*>(base);
  bool ok = false;
  if (memcmp(eh->e_ident, ELFMAG, SELFMAG) == 0 && eh->e_shoff + (size_t)eh->e_shnum * sizeof(ElfW(Shdr)) <= bytes) {
    const ElfW(Shdr)* sh = reinterpret_cast<const ElfW(Shdr)*>(base + eh->e_shoff);
    for (int i = 0; i < eh->e_shnum; ++i) {
      if (sh[i].sh_type != SHT_SYMTAB || sh[i].sh_link >= eh->e_shnum) continue;
      const ElfW(Shdr)& strtab = sh[sh[i].sh_link];
      if (sh[i].sh_offset + sh[i].sh_size > bytes || strtab.sh_offset + strtab.sh_size > bytes) break;
      const ElfW(Sym)* sym = reinterpret_cast<const ElfW(Sym)*>(base + sh[i].sh_offset);
      const size_t count = sh[i].sh_size / sizeof(ElfW(Sym));
      const char* names = reinterpret_cast<const char*>(base + strtab.sh_offset);
      for (size_t j = 0; j < count; ++j) {
        const unsigned char type = ELF64_ST_TYPE(sym[j].st_info);
        if ((type != STT_FUNC && type != STT_OBJECT) || sym[j].st_shndx == SHN_UNDEF ||
            sym[j].st_shndx >= eh->e_shnum || sym[j].st_name >= strtab.sh_size) {
          continue;
        }
        /* Writable objects only (a kernel's __func__ is a read-only local object too). */
        if (type == STT_OBJECT && !(sh[sym[j].st_shndx].sh_flags & SHF_WRITE)) continue;
        const std::string name = names + sym[j].st_name;
        if (name.compare(0, 2, "_Z") != 0) continue; /* only C++ names can hold a kernel's statics */
        const uintptr_t addr = bias + (uintptr_t)sym[j].st_value;
        m->by_name[name] = Symbol{addr, (size_t)sym[j].st_size, type};
        if (type == STT_FUNC) m->function_at[addr] = name;
      }
      ok = true;
      break;
    }
  }
  munmap(map, bytes);
  return ok;
}

std::map<std::string, std::unique_ptr<Module>> g_modules;
std::map<const void*, std::vector<SmemRange>> g_kernels;

}  // namespace

const std::vector<SmemRange>& kernel_statics(const void* fn) {
  auto known = g_kernels.find(fn);
  if (known != g_kernels.end()) return known->second;
  std::vector<SmemRange>& out = g_kernels[fn];
  FindModule f{reinterpret_cast<uintptr_t>(fn), 0, "", false};
  dl_iterate_phdr(find_module, &f);
  if (!f.found) return out;
  std::unique_ptr<Module>& m = g_modules[f.path];
  if (!m) {
    m.reset(new Module());
    m->bias = f.bias;
    if (!read_symbols(f.path, f.bias, m.get())) {
      fprintf(stderr, "pkpo emu: %s has no symbol table: static shared memory is not poisoned between blocks\n",
              f.path.c_str());
    }
  }
  const auto at = m->function_at.find(reinterpret_cast<uintptr_t>(fn));
  if (at == m->function_at.end()) return out;
  const std::string prefix = "_ZZ" + at->second.substr(2) + "E";
  for (auto it = m->by_name.lower_bound(prefix); it != m->by_name.end(); ++it) {
    if (it->first.compare(0, prefix.size(), prefix) != 0) break;
    if (it->second.type == STT_OBJECT && it->second.size > 0) {
      out.push_back(SmemRange{reinterpret_cast<unsigned char*>(it->second.addr), it->second.size});
    }
  }
  return out;
}

}  // namespace detail
}  // namespace pkpo_emu
