;; hello: the smallest Tabula function, a WASI command module.
;; Every invocation runs _start from the snapshot, prints one JSON object on stdout (the result)
;; and one line on stderr (a log line).
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)

  ;; iovec for stdout at 0, for stderr at 8; bytes written go to 16.
  (data (i32.const 100) "{\"greeting\":\"Hello from Tabula!\"}")
  (data (i32.const 200) "hello: invoked\n")

  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 100))
    (i32.store (i32.const 4) (i32.const 33))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 16)))
    (i32.store (i32.const 8) (i32.const 200))
    (i32.store (i32.const 12) (i32.const 15))
    (drop (call $fd_write (i32.const 2) (i32.const 8) (i32.const 1) (i32.const 16)))))
