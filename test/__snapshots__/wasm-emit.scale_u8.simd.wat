(module
 (type $0 (func (param i32 i32 i32 f32)))
 (import "env" "memory" (memory $0 1 65536))
 (data $0 (i32.const 16) "\00\00\80?\00\00\00?")
 (export "scale_u8" (func $scale_u8))
 (func $scale_u8 (param $x i32) (param $q i32) (param $n i32) (param $s f32)
  (local $#end0 i32)
  (local $#start0 i32)
  (local $#end1 i32)
  (local $#i1 i32)
  (local $t i32)
  (local $y f32)
  (local $c i32)
  (local $#t0 i32)
  (local $#t1 i32)
  (local $y#v v128)
  (local $#v2 v128)
  (local $#v3 v128)
  (local $#v4 v128)
  (local $c#v v128)
  (block
   (local.set $#end0
    (local.get $n)
   )
   (local.set $#start0
    (i32.const 0)
   )
   (block
    (local.set $#t1
     (local.get $#start0)
    )
    (if
     (i32.ge_s
      (i32.sub
       (local.get $#end0)
       (local.get $#start0)
      )
      (i32.const 4)
     )
     (then
      (local.set $#t1
       (i32.add
        (local.get $#start0)
        (i32.and
         (i32.sub
          (local.get $#end0)
          (local.get $#start0)
         )
         (i32.const -4)
        )
       )
      )
      (local.set $#t0
       (local.get $#start0)
      )
      (loop $vloop2
       (block $vgroup2
        (local.set $t
         (local.get $#t0)
        )
        (local.set $y#v
         (f32x4.mul
          (f32x4.mul
           (v128.load align=1
            (i32.add
             (local.get $x)
             (i32.shl
              (local.get $#t0)
              (i32.const 2)
             )
            )
           )
           (f32x4.splat
            (local.get $s)
           )
          )
          (block (result v128)
           (local.set $#v2
            (i32x4.add
             (i32x4.splat
              (i32.const 0)
             )
             (v128.const i32x4 0x00000000 0x00000001 0x00000000 0x00000001)
            )
           )
           (if (result v128)
            (v128.any_true
             (i32x4.gt_u
              (local.get $#v2)
              (i32x4.splat
               (i32.const 1)
              )
             )
            )
            (then
             (f32x4.replace_lane 3
              (f32x4.replace_lane 2
               (f32x4.replace_lane 1
                (f32x4.splat
                 (f32.load
                  (i32.add
                   (i32.const 16)
                   (i32.shl
                    (i32x4.extract_lane 0
                     (local.tee $#v4
                      (local.get $#v2)
                     )
                    )
                    (i32.const 2)
                   )
                  )
                 )
                )
                (f32.load
                 (i32.add
                  (i32.const 16)
                  (i32.shl
                   (i32x4.extract_lane 1
                    (local.get $#v4)
                   )
                   (i32.const 2)
                  )
                 )
                )
               )
               (f32.load
                (i32.add
                 (i32.const 16)
                 (i32.shl
                  (i32x4.extract_lane 2
                   (local.get $#v4)
                  )
                  (i32.const 2)
                 )
                )
               )
              )
              (f32.load
               (i32.add
                (i32.const 16)
                (i32.shl
                 (i32x4.extract_lane 3
                  (local.get $#v4)
                 )
                 (i32.const 2)
                )
               )
              )
             )
            )
            (else
             (local.set $#v3
              (i8x16.shuffle 0 0 0 0 4 4 4 4 8 8 8 8 12 12 12 12
               (local.get $#v2)
               (local.get $#v2)
              )
             )
             (v128.or
              (v128.and
               (i8x16.swizzle
                (v128.const i32x4 0x00000080 0x00000000 0x00000000 0x00000000)
                (local.get $#v3)
               )
               (v128.const i32x4 0x00ff0000 0x00ff0000 0x00ff0000 0x00ff0000)
              )
              (v128.and
               (i8x16.swizzle
                (v128.const i32x4 0x00003f3f 0x00000000 0x00000000 0x00000000)
                (local.get $#v3)
               )
               (v128.const i32x4 0xff000000 0xff000000 0xff000000 0xff000000)
              )
             )
            )
           )
          )
         )
        )
        (local.set $c#v
         (i32x4.trunc_sat_f32x4_u
          (f32x4.floor
           (v128.bitselect
            (local.get $y#v)
            (f32x4.splat
             (f32.const 0)
            )
            (f32x4.gt
             (local.get $y#v)
             (f32x4.splat
              (f32.const 0)
             )
            )
           )
          )
         )
        )
        (v128.store32_lane align=1 0
         (i32.add
          (local.get $q)
          (local.get $#t0)
         )
         (i8x16.shuffle 0 4 8 12 0 0 0 0 0 0 0 0 0 0 0 0
          (i32x4.min_u
           (local.get $c#v)
           (i32x4.splat
            (i32.const 255)
           )
          )
          (i32x4.min_u
           (local.get $c#v)
           (i32x4.splat
            (i32.const 255)
           )
          )
         )
        )
       )
       (local.set $#t0
        (i32.add
         (local.get $#t0)
         (i32.const 4)
        )
       )
       (br_if $vloop2
        (i32.lt_s
         (local.get $#t0)
         (local.get $#t1)
        )
       )
      )
      (local.set $t
       (i32.sub
        (local.get $#t1)
        (i32.const 1)
       )
      )
     )
    )
    (local.set $#start0
     (local.get $#t1)
    )
   )
   (block
    (local.set $#end1
     (local.get $#end0)
    )
    (local.set $#i1
     (local.get $#start0)
    )
    (block $for1.exit
     (loop $for1.next
      (br_if $for1.exit
       (i32.ge_s
        (local.get $#i1)
        (local.get $#end1)
       )
      )
      (local.set $t
       (local.get $#i1)
      )
      (local.set $y
       (f32.mul
        (f32.mul
         (f32.load
          (i32.add
           (local.get $x)
           (i32.shl
            (local.get $t)
            (i32.const 2)
           )
          )
         )
         (local.get $s)
        )
        (f32.load
         (i32.add
          (i32.const 16)
          (i32.shl
           (i32.and
            (local.get $t)
            (i32.const 1)
           )
           (i32.const 2)
          )
         )
        )
       )
      )
      (local.set $c
       (i32.trunc_f32_u
        (f32.floor
         (select
          (local.get $y)
          (f32.const 0)
          (f32.gt
           (local.get $y)
           (f32.const 0)
          )
         )
        )
       )
      )
      (i32.store8
       (i32.add
        (local.get $q)
        (local.get $t)
       )
       (select
        (local.get $c)
        (i32.const 255)
        (i32.lt_u
         (local.get $c)
         (i32.const 255)
        )
       )
      )
      (local.set $#i1
       (i32.add
        (local.get $#i1)
        (i32.const 1)
       )
      )
      (br $for1.next)
     )
    )
   )
  )
 )
 ;; custom section "qkc.manifest", size 337, contents: "{\"format\":\"qkc-wasm\",\"version\":1,\"reservedBytes\":65536,\"kernels\":[{\"name\":\"scale_u8\",\"params\":[{\"kind\":\"buffer\",\"name\":\"x\",\"elem\":\"f32\",\"access\":\"read\"},{\"kind\":\"buffer\",\"name\":\"q\",\"elem\":\"u8\",\"access\":\"write\"},{\"kind\":\"scalar\",\"name\":\"n\",\"type\":\"i32\"},{\"kind\":\"scalar\",\"name\":\"s\",\"type\":\"f32\"}]}],\"tableOffsets\":{\"scale_u8\":{\"lut\":16}}}"
)
