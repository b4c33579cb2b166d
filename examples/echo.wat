;; echo: returns its parameters unchanged. A reactor module: the runtime calls "main" per
;; invocation; the parameters (a JSON object) arrive on stdin and are copied to stdout.
(module
  (import "wasi_snapshot_preview1" "fd_read"
    (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  ;; 17 pages: 64 KiB of scratch plus room for the largest parameters (1 MiB).
  (memory (export "memory") 17)

  ;; Layout: iovec at 0, count at 8, input buffer from 65536.
  (func (export "main")
    (local $total i32)
    (block $done
      (loop $more
        ;; read into the rest of memory
        (i32.store (i32.const 0) (i32.add (i32.const 65536) (local.get $total)))
        (i32.store (i32.const 4) (i32.sub (i32.const 1048576) (local.get $total)))
        (br_if $done (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
        (br_if $done (i32.eqz (i32.load (i32.const 8))))
        (local.set $total (i32.add (local.get $total) (i32.load (i32.const 8))))
        (br $more)))
    (i32.store (i32.const 0) (i32.const 65536))
    (i32.store (i32.const 4) (local.get $total))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
