// The ABI between Tabula and a function compiled ahead of time (see docs/architecture.md,
// "The native engine"). The translator (Sources/TabulaEnclave/Native/CTranslator*.swift) writes
// the same declarations at the top of every generated C file; `abi_version` and `context_size`
// in the module descriptor let the loader refuse code built for another layout.
#ifndef TABULA_NATIVE_ABI_H
#define TABULA_NATIVE_ABI_H

#include <stdint.h>

#define TABULA_NATIVE_ABI_VERSION 2

/// Why native code stopped; the host turns each into WasmKit's words for the same trap.
enum tabula_trap {
    TABULA_TRAP_NONE = 0,
    TABULA_TRAP_UNREACHABLE = 1,        // "unreachable"
    TABULA_TRAP_MEMORY = 2,             // "out of bounds memory access"
    TABULA_TRAP_DIVIDE_BY_ZERO = 3,     // "integer divide by zero"
    TABULA_TRAP_OVERFLOW = 4,           // "integer overflow"
    TABULA_TRAP_CONVERSION = 5,         // "invalid conversion to integer"
    TABULA_TRAP_TYPE_MISMATCH = 6,      // detail_a = expected type id, detail_b = actual type id
    TABULA_TRAP_TABLE_BOUNDS = 7,       // detail_a = element index (call_indirect / table.get / set)
    TABULA_TRAP_NULL_ELEMENT = 8,       // detail_a = element index (call_indirect on a null entry)
    TABULA_TRAP_STACK = 9,              // "call stack exhausted"
    TABULA_TRAP_HOST = 10,              // the host ended the run; it kept the reason
    TABULA_TRAP_TABLE_ACCESS = 11,      // table.init / copy / fill out of bounds, detail_a = index
};

/// A function reference: `type` is the canonical type id + 1 (0 for null), `function` the code.
typedef struct tabula_funcref {
    uint32_t type;
    uint32_t index;     // the function's index in the module (for ref.func identity and messages)
    void *function;
} tabula_funcref;

typedef struct tabula_table {
    tabula_funcref *elements;   // capacity: `maximum` elements, allocated by the host
    uint32_t size;
    uint32_t maximum;
} tabula_table;

typedef struct tabula_context tabula_context;

struct tabula_context {
    /// Linear memory: `memory_size` bytes usable, at an address that never changes.
    uint8_t *memory;
    uint64_t memory_size;
    /// One 64-bit slot per global, the value's bit pattern (i32 and f32 in the low 32 bits).
    uint64_t *globals;
    tabula_table *tables;
    /// One byte per data segment, then one per element segment: 1 once dropped.
    uint8_t *dropped;
    /// Function entries trap with TABULA_TRAP_STACK below this address.
    uintptr_t stack_limit;
    /// Set by the code before it calls `trap`.
    uint64_t detail_a, detail_b;
    /// Ends the run: does not return (the host long-jumps back to its call).
    void (*trap)(tabula_context *context, int32_t code) __attribute__((noreturn));
    /// Calls import `index` (in the module's function index space); 0 when it returned normally,
    /// else the code calls trap(context, TABULA_TRAP_HOST).
    int32_t (*host)(tabula_context *context, uint32_t index, const uint64_t *arguments, uint64_t *results);
    /// memory.grow: the old size in pages, or -1 when refused. Updates memory_size.
    int64_t (*grow)(tabula_context *context, uint64_t delta_pages);
    void *host_data;
};

typedef struct tabula_native_export {
    const char *name;
    uint32_t kind;      // 0 function, 1 table, 2 memory, 3 global (the binary's export kinds)
    uint32_t index;
} tabula_native_export;

/// What the compiled module's entry point (its ELF entry, `tabula_native_module`) returns.
typedef struct tabula_native_module {
    uint32_t abi_version;
    uint32_t context_size;          // sizeof(tabula_context), checked by the loader
    uint32_t function_count;        // imports included
    uint32_t import_count;
    uint32_t global_count;
    uint32_t table_count;
    uint32_t data_count;
    uint32_t element_count;
    uint32_t has_memory;
    uint32_t export_count;
    uint64_t memory_minimum_pages;
    uint64_t memory_maximum_pages;  // UINT64_MAX when the module sets none
    const uint32_t *table_minimums; // table_count entries
    const uint32_t *table_maximums; // table_count entries, UINT32_MAX when none
    const tabula_native_export *exports;
    /// Initialises globals, tables (active element segments), memory (active data segments) and
    /// drop flags, then runs the start function. Memory and tables are allocated, zeroed and sized
    /// to their minimums by the host before the call.
    void (*instantiate)(tabula_context *context);
    /// Calls function `index`, which takes no parameters and returns nothing or one i32 (zero-
    /// extended into the result); traps through `context->trap` for any other type.
    uint64_t (*invoke)(tabula_context *context, uint32_t index);
    /// Calls exported function `index` with its `argument_count` parameters as 64-bit patterns (as
    /// for imports: i32 and f32 in the low 32 bits) and writes its results to `results`. Returns
    /// the number of results written, or -1 without calling anything when `index` is not an
    /// exported function, `argument_count` is not its parameter count or it has more results than
    /// `result_capacity`.
    int32_t (*call)(tabula_context *context, uint32_t index, const uint64_t *arguments, uint32_t argument_count, uint64_t *results, uint32_t result_capacity);
} tabula_native_module;

#endif
