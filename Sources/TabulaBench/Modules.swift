/// The functions the benchmarks run, as WAT text, so that `tabula bench` needs no files.
public enum Modules {
    /// Returns its parameters: reads stdin into memory at 64 KiB and writes it back to stdout.
    ///
    /// - Parameter memoryMiB: the linear memory's size (at least 2 MiB for 1 MiB of input);
    ///   larger memories show what a fresh sandbox pays per MiB that reuse does not.
    public static func echo(memoryMiB: Int = 2) -> [UInt8] {
        Array("""
        (module
          (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
          (memory (export "memory") \(max(2, memoryMiB) * 16))
          (func (export "main")
            (local $total i32)
            (block $done
              (loop $more
                (i32.store (i32.const 0) (i32.add (i32.const 65536) (local.get $total)))
                (i32.store (i32.const 4) (i32.sub (i32.const 1048576) (local.get $total)))
                (br_if $done (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
                (br_if $done (i32.eqz (i32.load (i32.const 8))))
                (local.set $total (i32.add (local.get $total) (i32.load (i32.const 8))))
                (br $more)))
            (i32.store (i32.const 0) (i32.const 65536))
            (i32.store (i32.const 4) (local.get $total))
            (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
        """.utf8)
    }

    /// Writes one byte in each of `pages` 4 KiB pages spread over the top of a `memoryMiB` memory,
    /// then prints `{}`: a rewind after it has exactly those pages (and the output's) to restore.
    public static func pageWriter(memoryMiB: Int, pages: Int) -> [UInt8] {
        let stride = max(1, (memoryMiB << 20) / 2 / 4096 / max(1, pages)) * 4096
        return Array("""
        (module
          (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
          (memory (export "memory") \(memoryMiB * 16))
          (data (i32.const 16) "{}")
          (func (export "main")
            (local $i i32)
            (block $done (loop $write
              (br_if $done (i32.ge_u (local.get $i) (i32.const \(pages))))
              (i32.store8 (i32.add (i32.const \((memoryMiB << 20) / 2)) (i32.mul (local.get $i) (i32.const \(stride)))) (i32.const 1))
              (local.set $i (i32.add (local.get $i) (i32.const 1)))
              (br $write)))
            (i32.store (i32.const 0) (i32.const 16))
            (i32.store (i32.const 4) (i32.const 2))
            (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
        """.utf8)
    }
}
