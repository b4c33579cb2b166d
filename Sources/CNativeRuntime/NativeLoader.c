// A loader for the shared objects Tabula's native engine compiles: just enough of ELF for code
// linked with -nostdlib, hidden visibility and an entry point, mapped from bytes already checked
// by the caller (no file is opened, so it also works under the worker's seccomp filter).
#define _GNU_SOURCE
#include "NativeRuntime.h"

#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__x86_64__)
#define TABULA_MACHINE EM_X86_64
#define TABULA_RELATIVE R_X86_64_RELATIVE
#define TABULA_NONE R_X86_64_NONE
#elif defined(__aarch64__)
#define TABULA_MACHINE EM_AARCH64
#define TABULA_RELATIVE R_AARCH64_RELATIVE
#define TABULA_NONE R_AARCH64_NONE
#else
#error "the native engine supports x86-64 and AArch64"
#endif

/// Larger images are refused: generated code is bounded long before this.
#define TABULA_IMAGE_LIMIT ((uint64_t)512 << 20)

#define FAIL(...) do { snprintf(problem, problem_size, __VA_ARGS__); goto failure; } while (0)

static int within(uint64_t offset, uint64_t length, uint64_t total) {
    return offset <= total && length <= total - offset;
}

int tabula_native_load(const uint8_t *bytes, size_t count, tabula_native_image *image, char *problem, size_t problem_size) {
    image->base = NULL;
    image->length = 0;
    image->module = NULL;
    uint8_t *base = MAP_FAILED;
    size_t span = 0;
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);

    if (count < sizeof(Elf64_Ehdr)) FAIL("the image is %zu bytes, too short for an ELF header", count);
    Elf64_Ehdr header;
    memcpy(&header, bytes, sizeof header);
    if (memcmp(header.e_ident, ELFMAG, SELFMAG) != 0) FAIL("the image is not ELF");
    if (header.e_ident[EI_CLASS] != ELFCLASS64 || header.e_ident[EI_DATA] != ELFDATA2LSB) FAIL("the image is not 64-bit little-endian ELF");
    if (header.e_type != ET_DYN) FAIL("the image is not a position-independent shared object");
    if (header.e_machine != TABULA_MACHINE) FAIL("the image is for machine %u, not this one", header.e_machine);
    if (header.e_phentsize != sizeof(Elf64_Phdr) || header.e_phnum == 0 || header.e_phnum > 64
        || !within(header.e_phoff, (uint64_t)header.e_phnum * sizeof(Elf64_Phdr), count))
        FAIL("the image's program headers are malformed");

    Elf64_Phdr headers[64];
    memcpy(headers, bytes + header.e_phoff, header.e_phnum * sizeof(Elf64_Phdr));
    uint64_t low = UINT64_MAX, high = 0;
    const Elf64_Phdr *dynamic = NULL, *relro = NULL;
    for (int index = 0; index < header.e_phnum; index++) {
        const Elf64_Phdr *segment = &headers[index];
        if (segment->p_type == PT_DYNAMIC) dynamic = segment;
        if (segment->p_type == PT_GNU_RELRO) relro = segment;
        if (segment->p_type == PT_INTERP) FAIL("the image asks for an interpreter");
        if (segment->p_type == PT_TLS) FAIL("the image uses thread-local storage");
        if (segment->p_type != PT_LOAD) continue;
        if ((segment->p_flags & PF_W) && (segment->p_flags & PF_X)) FAIL("the image has a writable and executable segment");
        if (segment->p_filesz > segment->p_memsz || !within(segment->p_offset, segment->p_filesz, count)
            || segment->p_memsz > TABULA_IMAGE_LIMIT || segment->p_vaddr > TABULA_IMAGE_LIMIT)
            FAIL("a loadable segment of the image is malformed");
        uint64_t start = segment->p_vaddr & ~(uint64_t)(page - 1);
        uint64_t end = segment->p_vaddr + segment->p_memsz;
        if (start < low) low = start;
        if (end > high) high = end;
    }
    if (low != 0 || high == 0 || high > TABULA_IMAGE_LIMIT) FAIL("the image's segments do not start at address 0 or are too large");
    span = (high + page - 1) & ~(uint64_t)(page - 1);
    base = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) FAIL("cannot map %zu bytes for the image: %s", span, strerror(errno));
    for (int index = 0; index < header.e_phnum; index++) {
        const Elf64_Phdr *segment = &headers[index];
        if (segment->p_type == PT_LOAD) memcpy(base + segment->p_vaddr, bytes + segment->p_offset, segment->p_filesz);
    }

    // Relocations: only relative ones (pointers to the image's own code and data).
    if (dynamic) {
        if (!within(dynamic->p_vaddr, dynamic->p_memsz, span)) FAIL("the image's dynamic section is outside it");
        uint64_t rela = 0, relasz = 0, relaent = sizeof(Elf64_Rela);
        const uint8_t *cursor = base + dynamic->p_vaddr;
        for (uint64_t offset = 0; offset + sizeof(Elf64_Dyn) <= dynamic->p_memsz; offset += sizeof(Elf64_Dyn)) {
            Elf64_Dyn entry;
            memcpy(&entry, cursor + offset, sizeof entry);
            if (entry.d_tag == DT_NULL) break;
            switch (entry.d_tag) {
            case DT_RELA: rela = entry.d_un.d_ptr; break;
            case DT_RELASZ: relasz = entry.d_un.d_val; break;
            case DT_RELAENT: relaent = entry.d_un.d_val; break;
            case DT_NEEDED: FAIL("the image needs another library");
            case DT_REL: case DT_JMPREL: case DT_TEXTREL: FAIL("the image has relocations of a kind the loader does not apply");
            case DT_PLTRELSZ: if (entry.d_un.d_val != 0) FAIL("the image has PLT relocations"); break;
            case DT_INIT: case DT_INIT_ARRAY: case DT_PREINIT_ARRAY: FAIL("the image has initialisers");
            default: break;
            }
        }
        if (relasz > 0) {
            if (relaent != sizeof(Elf64_Rela) || !within(rela, relasz, span)) FAIL("the image's relocation table is malformed");
            for (uint64_t offset = 0; offset + sizeof(Elf64_Rela) <= relasz; offset += sizeof(Elf64_Rela)) {
                Elf64_Rela entry;
                memcpy(&entry, base + rela + offset, sizeof entry);
                uint32_t type = (uint32_t)ELF64_R_TYPE(entry.r_info);
                if (type == TABULA_NONE) continue;
                if (type != TABULA_RELATIVE) FAIL("the image has a relocation of type %u; only relative ones are applied", type);
                if (!within(entry.r_offset, 8, span) || (uint64_t)entry.r_addend > span) FAIL("a relocation of the image points outside it");
                uint64_t value = (uint64_t)(uintptr_t)base + (uint64_t)entry.r_addend;
                memcpy(base + entry.r_offset, &value, sizeof value);
            }
        }
    }

    // Protections: code read and execute, data as its segment says, then the relocated read-only
    // data read-only. Pages shared by two segments keep the more permissive of the two is never
    // needed: the linker aligns segments to pages.
    if (mprotect(base, span, PROT_READ) != 0) FAIL("cannot protect the image: %s", strerror(errno));
    for (int index = 0; index < header.e_phnum; index++) {
        const Elf64_Phdr *segment = &headers[index];
        if (segment->p_type != PT_LOAD) continue;
        uint64_t start = segment->p_vaddr & ~(uint64_t)(page - 1);
        uint64_t end = (segment->p_vaddr + segment->p_memsz + page - 1) & ~(uint64_t)(page - 1);
        int protection = PROT_READ | ((segment->p_flags & PF_W) ? PROT_WRITE : 0) | ((segment->p_flags & PF_X) ? PROT_EXEC : 0);
        if (protection == PROT_READ) continue;
        if (mprotect(base + start, end - start, protection) != 0) FAIL("cannot protect a segment of the image: %s", strerror(errno));
    }
    if (relro) {
        uint64_t start = relro->p_vaddr & ~(uint64_t)(page - 1);
        uint64_t end = (relro->p_vaddr + relro->p_memsz) & ~(uint64_t)(page - 1);
        if (end > start && within(start, end - start, span) && mprotect(base + start, end - start, PROT_READ) != 0)
            FAIL("cannot protect the image's relocated data: %s", strerror(errno));
    }

    if (!within(header.e_entry, 1, span)) FAIL("the image's entry point is outside it");
    const tabula_native_module *(*entry)(void) = (const tabula_native_module *(*)(void))(void *)(base + header.e_entry);
    const tabula_native_module *module = entry();
    if ((const uint8_t *)module < base || (const uint8_t *)module + sizeof *module > base + span) FAIL("the image's module descriptor is outside it");
    if (module->abi_version != TABULA_NATIVE_ABI_VERSION || module->context_size != sizeof(tabula_context))
        FAIL("the image was built for native ABI %u (context of %u bytes), not %u (%zu bytes)", module->abi_version, module->context_size, TABULA_NATIVE_ABI_VERSION, sizeof(tabula_context));
    image->base = base;
    image->length = span;
    image->module = module;
    return 0;

failure:
    if (base != MAP_FAILED) munmap(base, span);
    return EINVAL;
}

void tabula_native_unload(tabula_native_image *image) {
    if (image->base) munmap(image->base, image->length);
    image->base = NULL;
    image->module = NULL;
}
