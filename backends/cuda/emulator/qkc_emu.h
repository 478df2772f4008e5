/*
 * qkc_emu.h: CUDA execution on the CPU, so that a generated .cu compiles with
 * g++ and runs with CUDA semantics (docs/cuda.md, "The CPU execution layer").
 *
 * Every CUDA thread is a fiber with its own small stack; the threads of one
 * block run on one OS thread, switching only at barriers and warp
 * collectives; blocks are spread over a pool of OS threads. At a collective
 * the last thread to arrive computes every participant's result, following
 * the PTX rules of shfl.sync (width, clamp, segment), vote.sync and bar.sync.
 * Misuse aborts with a diagnostic naming the file and line of the call:
 * a lane outside its own mask, masks that disagree, a shuffle reading a lane
 * outside the mask or one that has exited, __syncthreads reached at two
 * places or while threads exit, and deadlock (nobody can run).
 *
 * Context switch: a hand-written x86-64 switch of the callee-saved registers;
 * elsewhere (or with -DQKC_EMU_UCONTEXT) POSIX ucontext.
 */
#pragma once
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#if !defined(__x86_64__) || defined(QKC_EMU_UCONTEXT)
#define QKC_EMU_USE_UCONTEXT 1
#include <ucontext.h>
#endif

#define __global__
#define __device__
#define __host__
#define __constant__
#define __forceinline__ inline __attribute__((always_inline))
#define __launch_bounds__(...)
/* block scope: one instance per OS thread, which is one block at a time */
#define __shared__ thread_local

struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct uint3 {
  unsigned x, y, z;
};
struct alignas(8) uint2 {
  unsigned x, y;
};
struct alignas(16) uint4 {
  unsigned x, y, z, w;
};
static constexpr int warpSize = 32;

typedef enum cudaError {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
} cudaError_t;
typedef struct qkc_emu_stream* cudaStream_t;
enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4
};

namespace qkc_emu {

[[noreturn]] __attribute__((format(printf, 3, 4))) inline void fail(const char* file, int line,
                                                                     const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s:%d: qkc-emu: ", file, line);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  fflush(stderr);
  abort();
}

enum class Op { none, barrier, syncwarp, shfl_idx, shfl_up, shfl_down, shfl_xor, ballot, any, all };

inline const char* op_name(Op op) {
  switch (op) {
    case Op::barrier: return "__syncthreads";
    case Op::syncwarp: return "__syncwarp";
    case Op::shfl_idx: return "__shfl_sync";
    case Op::shfl_up: return "__shfl_up_sync";
    case Op::shfl_down: return "__shfl_down_sync";
    case Op::shfl_xor: return "__shfl_xor_sync";
    case Op::ballot: return "__ballot_sync";
    case Op::any: return "__any_sync";
    case Op::all: return "__all_sync";
    default: return "?";
  }
}

struct Fiber {
  void* sp = nullptr; /* saved stack pointer (x86-64 switch) */
#ifdef QKC_EMU_USE_UCONTEXT
  ucontext_t ctx;
#endif
  char* stack = nullptr;
  uint3 tid{0, 0, 0};
  unsigned linear = 0;
  enum State { ready, waiting, done } state = ready;
  /* the collective it waits in, for diagnostics */
  Op op = Op::none;
  const char* file = "";
  int line = 0;
  unsigned mask = 0;
  /* operands and result of the collective */
  uint64_t value = 0;
  int b = 0;
  int width = 32;
  uint64_t result = 0;
};

/* A warp collective that not every lane of its mask has reached yet. */
struct Pending {
  Op op;
  unsigned mask;
  unsigned arrived;
  const char* file;
  int line;
};

struct Block {
  std::vector<Fiber> fibers;
  std::vector<std::vector<Pending>> warps;
  unsigned live = 0;
  unsigned at_barrier = 0;
  const char* barrier_file = nullptr;
  int barrier_line = 0;
  uint3 idx{0, 0, 0};
  dim3 dim, grid;
  const std::function<void()>* body = nullptr;
  std::vector<unsigned char> dynamic_shared;
  Fiber* current = nullptr;
  void* scheduler_sp = nullptr;
#ifdef QKC_EMU_USE_UCONTEXT
  ucontext_t scheduler_ctx;
#endif
};

inline thread_local Block* tls_block = nullptr;
inline Block& blk() { return *tls_block; }

inline size_t stack_bytes() {
  const char* e = getenv("QKC_EMU_STACK");
  size_t n = e ? (size_t)strtoull(e, nullptr, 10) : 0;
  return n >= 16384 ? n : 65536;
}

#ifndef QKC_EMU_USE_UCONTEXT
/* save callee-saved registers and the stack pointer into *from, continue on `to` */
__attribute__((naked, noinline)) static void switch_stack(void** /*from*/, void* /*to*/) {
  __asm__ volatile(
      "pushq %rbp\n\tpushq %rbx\n\tpushq %r12\n\tpushq %r13\n\tpushq %r14\n\tpushq %r15\n\t"
      "movq %rsp, (%rdi)\n\tmovq %rsi, %rsp\n\t"
      "popq %r15\n\tpopq %r14\n\tpopq %r13\n\tpopq %r12\n\tpopq %rbx\n\tpopq %rbp\n\tret\n\t");
}
#endif

inline void to_scheduler(Fiber& f) {
#ifdef QKC_EMU_USE_UCONTEXT
  swapcontext(&f.ctx, &blk().scheduler_ctx);
#else
  switch_stack(&f.sp, blk().scheduler_sp);
#endif
}

inline void to_fiber(Fiber& f) {
  blk().current = &f;
#ifdef QKC_EMU_USE_UCONTEXT
  swapcontext(&blk().scheduler_ctx, &f.ctx);
#else
  switch_stack(&blk().scheduler_sp, f.sp);
#endif
}

inline std::string lanes_of(unsigned bits) {
  std::string s;
  for (int l = 0; l < 32; l++)
    if (bits >> l & 1u) s += (s.empty() ? "" : ",") + std::to_string(l);
  return s;
}

inline void thread_exits(Fiber& f) {
  Block& b = blk();
  f.state = Fiber::done;
  b.live--;
  const unsigned lane = f.linear % 32;
  for (const Pending& p : b.warps[f.linear / 32])
    if (p.mask >> lane & 1u)
      fail(p.file, p.line, "%s: lane %u of the mask 0x%08x exited without reaching it (block %u,%u,%u)",
           op_name(p.op), lane, p.mask, b.idx.x, b.idx.y, b.idx.z);
  if (b.at_barrier)
    fail(b.barrier_file, b.barrier_line,
         "__syncthreads: thread %u exited while %u threads wait here (divergent barrier, block %u,%u,%u)",
         f.linear, b.at_barrier, b.idx.x, b.idx.y, b.idx.z);
}

[[noreturn]] inline void fiber_main() {
  Fiber& f = *blk().current;
  (*blk().body)();
  thread_exits(f);
  to_scheduler(f);
  __builtin_unreachable();
}

#ifdef QKC_EMU_USE_UCONTEXT
inline void fiber_entry_ucontext() { fiber_main(); }
#endif

inline void prepare(Fiber& f, size_t bytes) {
#ifdef QKC_EMU_USE_UCONTEXT
  getcontext(&f.ctx);
  f.ctx.uc_stack.ss_sp = f.stack;
  f.ctx.uc_stack.ss_size = bytes;
  f.ctx.uc_link = nullptr;
  makecontext(&f.ctx, fiber_entry_ucontext, 0);
#else
  uintptr_t top = ((uintptr_t)f.stack + bytes) & ~(uintptr_t)15;
  void** sp = (void**)(top - 64);
  for (int r = 0; r < 6; r++) sp[r] = nullptr; /* r15 r14 r13 r12 rbx rbp */
  sp[6] = (void*)&fiber_main;                  /* returned into, with rsp = 8 mod 16 */
  sp[7] = nullptr;
  f.sp = sp;
#endif
}

/* Stacks of one OS thread, reused by every block it runs; a guard page below each. */
struct Stacks {
  std::vector<char*> mem;
  size_t bytes = stack_bytes();
  char* get(size_t i) {
    while (mem.size() <= i) {
      size_t page = 4096;
      char* p = (char*)mmap(nullptr, bytes + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p == MAP_FAILED) fail(__FILE__, __LINE__, "cannot map a fiber stack of %zu bytes", bytes);
      mprotect(p, page, PROT_NONE);
      mem.push_back(p + page);
    }
    return mem[i];
  }
  ~Stacks() {
    for (char* p : mem) munmap(p - 4096, bytes + 4096);
  }
};

inline void deadlock(Block& b) {
  fprintf(stderr, "qkc-emu: deadlock in block (%u,%u,%u): no thread can run\n", b.idx.x, b.idx.y, b.idx.z);
  for (const Fiber& f : b.fibers)
    if (f.state == Fiber::waiting) {
      unsigned missing = 0;
      if (f.op != Op::barrier)
        for (const Pending& p : b.warps[f.linear / 32])
          if (p.mask == f.mask) missing = p.mask & ~p.arrived;
      fprintf(stderr, "%s:%d: thread %u (warp %u lane %u) waits in %s", f.file, f.line, f.linear, f.linear / 32,
              f.linear % 32, op_name(f.op));
      if (f.op == Op::barrier)
        fprintf(stderr, " for %u more threads\n", b.live - b.at_barrier);
      else
        fprintf(stderr, " (mask 0x%08x) for lanes %s\n", f.mask, lanes_of(missing).c_str());
    }
  fflush(stderr);
  abort();
}

inline void run_block(Stacks& stacks, const std::function<void()>& body, dim3 grid, dim3 dim, uint3 idx,
                      size_t smem) {
  Block b;
  b.idx = idx;
  b.dim = dim;
  b.grid = grid;
  b.body = &body;
  b.dynamic_shared.assign(smem, 0);
  const unsigned n = dim.x * dim.y * dim.z;
  b.fibers.resize(n);
  b.warps.resize((n + 31) / 32);
  b.live = n;
  for (unsigned t = 0; t < n; t++) {
    Fiber& f = b.fibers[t];
    f.linear = t;
    f.tid = {t % dim.x, t / dim.x % dim.y, t / (dim.x * dim.y)};
    f.stack = stacks.get(t);
    prepare(f, stacks.bytes);
  }
  Block* outer = tls_block;
  tls_block = &b;
  while (b.live) {
    bool ran = false;
    for (Fiber& f : b.fibers)
      if (f.state == Fiber::ready) {
        to_fiber(f);
        ran = true;
      }
    if (!ran && b.live) deadlock(b);
  }
  tls_block = outer;
}

inline Fiber& self() { return *blk().current; }

inline void wait_here(Fiber& f) {
  f.state = Fiber::waiting;
  to_scheduler(f);
}

/* The value lane l of the completed collective `p` receives (PTX shfl.sync / vote.sync). */
inline void complete(Block& b, unsigned warp, const Pending& p) {
  Fiber* lanes[32] = {};
  for (int l = 0; l < 32; l++)
    if (p.mask >> l & 1u) lanes[l] = &b.fibers[warp * 32 + l];
  unsigned ballot = 0;
  for (int l = 0; l < 32; l++)
    if (lanes[l] && lanes[l]->value) ballot |= 1u << l;
  for (int l = 0; l < 32; l++) {
    Fiber* f = lanes[l];
    if (!f) continue;
    switch (p.op) {
      case Op::ballot: f->result = ballot; break;
      case Op::any: f->result = ballot != 0; break;
      case Op::all: f->result = ballot == p.mask; break;
      case Op::syncwarp: break;
      default: {
        const int w = f->width;
        if (w < 1 || w > 32 || (w & (w - 1)))
          fail(f->file, f->line, "%s: width %d is not a power of two in 1..32", op_name(p.op), w);
        const int segmask = (32 - w) & 31;
        const int cval = p.op == Op::shfl_up ? 0 : 31;
        const int bval = f->b & 31;
        const int minLane = l & segmask;
        const int maxLane = minLane | (cval & ~segmask & 31);
        int j = l;
        bool pval = false;
        switch (p.op) {
          case Op::shfl_up: j = l - bval; pval = j >= maxLane; break;
          case Op::shfl_down: j = l + bval; pval = j <= maxLane; break;
          case Op::shfl_xor: j = l ^ bval; pval = j <= maxLane; break;
          default: j = minLane | (bval & ~segmask & 31); pval = j <= maxLane; break;
        }
        if (!pval) j = l;
        if (!lanes[j]) {
          const Fiber& src = b.fibers[warp * 32 + j];
          fail(f->file, f->line, "%s: lane %d reads lane %d, which %s (mask 0x%08x)", op_name(p.op), l, j,
               src.state == Fiber::done ? "has exited" : "is not in the mask", p.mask);
        }
        f->result = lanes[j]->value;
      }
    }
    if (f != &self()) f->state = Fiber::ready;
  }
}

inline uint64_t collective(const char* file, int line, Op op, unsigned mask, uint64_t value, int b_, int width) {
  Block& b = blk();
  Fiber& f = self();
  const unsigned warp = f.linear / 32, lane = f.linear % 32;
  if (!(mask >> lane & 1u))
    fail(file, line, "%s: lane %u calls it with mask 0x%08x, which does not include the lane", op_name(op), lane,
         mask);
  const unsigned in_warp = std::min(32u, (unsigned)b.fibers.size() - warp * 32);
  const unsigned exists = in_warp == 32 ? 0xffffffffu : (1u << in_warp) - 1u;
  if (mask & ~exists)
    fail(file, line, "%s: mask 0x%08x names lanes %s that this block does not have", op_name(op), mask,
         lanes_of(mask & ~exists).c_str());
  for (int l = 0; l < 32; l++)
    if ((mask >> l & 1u) && b.fibers[warp * 32 + l].state == Fiber::done)
      fail(file, line, "%s: lane %d of the mask 0x%08x has exited", op_name(op), l, mask);
  std::vector<Pending>& pending = b.warps[warp];
  Pending* p = nullptr;
  for (Pending& q : pending)
    if (q.mask >> lane & 1u) {
      if (q.mask != mask || q.op != op)
        fail(file, line, "%s with mask 0x%08x, while lanes %s wait in %s with mask 0x%08x at %s:%d", op_name(op),
             mask, lanes_of(q.arrived).c_str(), op_name(q.op), q.mask, q.file, q.line);
      p = &q;
    }
  if (!p) {
    pending.push_back({op, mask, 0, file, line});
    p = &pending.back();
  }
  f.op = op;
  f.file = file;
  f.line = line;
  f.mask = mask;
  f.value = value;
  f.b = b_;
  f.width = width;
  p->arrived |= 1u << lane;
  if (p->arrived == mask) {
    Pending done = *p;
    pending.erase(pending.begin() + (p - pending.data()));
    complete(b, warp, done);
  } else {
    wait_here(f);
  }
  f.op = Op::none;
  return f.result;
}

template <class T>
inline T shfl(const char* file, int line, Op op, unsigned mask, T var, int b, int width) {
  static_assert(sizeof(T) <= 8, "shuffles move at most 64 bits");
  uint64_t bits = 0;
  memcpy(&bits, &var, sizeof(T));
  uint64_t r = collective(file, line, op, mask, bits, b, width);
  T out;
  memcpy(&out, &r, sizeof(T));
  return out;
}

inline void syncthreads(const char* file, int line) {
  Block& b = blk();
  Fiber& f = self();
  if (b.at_barrier && (b.barrier_line != line || strcmp(b.barrier_file, file) != 0))
    fail(file, line, "__syncthreads: thread %u arrives here while %u threads wait at %s:%d (divergent barrier)",
         f.linear, b.at_barrier, b.barrier_file, b.barrier_line);
  b.barrier_file = file;
  b.barrier_line = line;
  f.op = Op::barrier;
  f.file = file;
  f.line = line;
  if (++b.at_barrier == b.live) {
    b.at_barrier = 0;
    for (Fiber& g : b.fibers)
      if (g.state == Fiber::waiting && g.op == Op::barrier) g.state = Fiber::ready;
  } else {
    wait_here(f);
  }
  f.op = Op::none;
}

inline void* dynamic_shared() { return blk().dynamic_shared.data(); }

inline cudaError_t& last_error() {
  static thread_local cudaError_t e = cudaSuccess;
  return e;
}

/* OS threads for a grid: QKC_EMU_THREADS, else one per core once there are
 * enough blocks to repay starting threads (small grids run on the caller). */
inline unsigned workers(unsigned blocks) {
  const char* e = getenv("QKC_EMU_THREADS");
  unsigned n = e ? (unsigned)atoi(e) : blocks < 64 ? 1u : std::thread::hardware_concurrency();
  return std::max(1u, std::min(n ? n : 1u, blocks));
}

/* Runs kernel<<<grid, block, smem, stream>>>(args...) to completion. */
template <class... P, class... A>
inline void launch(const char* file, int line, void (*kernel)(P...), dim3 grid, dim3 block, size_t smem,
                   cudaStream_t, A&&... args) {
  const unsigned threads = block.x * block.y * block.z;
  const unsigned blocks = grid.x * grid.y * grid.z;
  if (threads == 0 || threads > 1024 || blocks == 0) {
    fprintf(stderr, "%s:%d: qkc-emu: launch with %u blocks of %u threads (1..1024 threads)\n", file, line, blocks,
            threads);
    last_error() = cudaErrorInvalidValue;
    return;
  }
  std::tuple<P...> bound(static_cast<P>(args)...);
  const std::function<void()> body = [&] { std::apply(kernel, bound); };
  std::atomic<unsigned> next{0};
  auto work = [&] {
    static thread_local Stacks stacks; /* kept for the next launch on this OS thread */
    for (unsigned i; (i = next.fetch_add(1)) < blocks;)
      run_block(stacks, body, grid, block, {i % grid.x, i / grid.x % grid.y, i / (grid.x * grid.y)}, smem);
  };
  const unsigned n = workers(blocks);
  std::vector<std::thread> pool;
  for (unsigned w = 1; w < n; w++) pool.emplace_back(work);
  work();
  for (std::thread& t : pool) t.join();
}

}  // namespace qkc_emu

#define threadIdx (qkc_emu::self().tid)
#define blockIdx (qkc_emu::blk().idx)
#define blockDim (qkc_emu::blk().dim)
#define gridDim (qkc_emu::blk().grid)

#define __syncthreads() qkc_emu::syncthreads(__FILE__, __LINE__)
#define __syncwarp(...) qkc_emu::syncwarp_at(__FILE__, __LINE__, ##__VA_ARGS__)
#define __shfl_sync(mask, var, lane, ...) \
  qkc_emu::shfl_at(__FILE__, __LINE__, qkc_emu::Op::shfl_idx, mask, var, lane, ##__VA_ARGS__)
#define __shfl_up_sync(mask, var, delta, ...) \
  qkc_emu::shfl_at(__FILE__, __LINE__, qkc_emu::Op::shfl_up, mask, var, delta, ##__VA_ARGS__)
#define __shfl_down_sync(mask, var, delta, ...) \
  qkc_emu::shfl_at(__FILE__, __LINE__, qkc_emu::Op::shfl_down, mask, var, delta, ##__VA_ARGS__)
#define __shfl_xor_sync(mask, var, laneMask, ...) \
  qkc_emu::shfl_at(__FILE__, __LINE__, qkc_emu::Op::shfl_xor, mask, var, laneMask, ##__VA_ARGS__)
#define __ballot_sync(mask, pred) \
  ((unsigned)qkc_emu::collective(__FILE__, __LINE__, qkc_emu::Op::ballot, mask, (pred) != 0, 0, 32))
#define __any_sync(mask, pred) \
  ((int)qkc_emu::collective(__FILE__, __LINE__, qkc_emu::Op::any, mask, (pred) != 0, 0, 32))
#define __all_sync(mask, pred) \
  ((int)qkc_emu::collective(__FILE__, __LINE__, qkc_emu::Op::all, mask, (pred) != 0, 0, 32))
/* dynamic shared memory: `extern __shared__ T name[]` in CUDA */
#define QKC_DYNAMIC_SHARED(T, name) T* name = (T*)qkc_emu::dynamic_shared()

namespace qkc_emu {
inline void syncwarp_at(const char* file, int line, unsigned mask = 0xffffffffu) {
  collective(file, line, Op::syncwarp, mask, 0, 0, 32);
}
template <class T>
inline T shfl_at(const char* file, int line, Op op, unsigned mask, T var, int b, int width = 32) {
  return shfl(file, line, op, mask, var, b, width);
}
}  // namespace qkc_emu

/* device functions */
static inline float __fadd_rn(float a, float b) { return a + b; }
static inline float __fsub_rn(float a, float b) { return a - b; }
static inline float __fmul_rn(float a, float b) { return a * b; }
static inline float __fdiv_rn(float a, float b) { return a / b; }
static inline float __uint_as_float(unsigned u) { float f; memcpy(&f, &u, 4); return f; }
static inline unsigned __float_as_uint(float f) { unsigned u; memcpy(&u, &f, 4); return u; }
static inline int __clz(unsigned x) { return x ? __builtin_clz(x) : 32; }
static inline int __popc(unsigned x) { return __builtin_popcount(x); }
static inline unsigned atomicMax(unsigned* p, unsigned v) {
  unsigned old = __atomic_load_n(p, __ATOMIC_RELAXED);
  while (old < v && !__atomic_compare_exchange_n(p, &old, v, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {}
  return old;
}
static inline unsigned atomicMin(unsigned* p, unsigned v) {
  unsigned old = __atomic_load_n(p, __ATOMIC_RELAXED);
  while (old > v && !__atomic_compare_exchange_n(p, &old, v, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {}
  return old;
}
static inline unsigned atomicAdd(unsigned* p, unsigned v) { return __atomic_fetch_add(p, v, __ATOMIC_RELAXED); }
static inline int atomicAdd(int* p, int v) { return __atomic_fetch_add(p, v, __ATOMIC_RELAXED); }

/* runtime API: device memory is host memory, streams run at once */
static inline cudaError_t cudaMalloc(void** p, size_t n) {
  *p = calloc(n ? n : 1, 1);
  return *p ? cudaSuccess : cudaErrorMemoryAllocation;
}
template <class T>
static inline cudaError_t cudaMalloc(T** p, size_t n) { return cudaMalloc((void**)p, n); }
static inline cudaError_t cudaFree(void* p) { free(p); return cudaSuccess; }
static inline cudaError_t cudaMemcpy(void* d, const void* s, size_t n, cudaMemcpyKind) { memmove(d, s, n); return cudaSuccess; }
static inline cudaError_t cudaMemcpyAsync(void* d, const void* s, size_t n, cudaMemcpyKind k, cudaStream_t = nullptr) { return cudaMemcpy(d, s, n, k); }
static inline cudaError_t cudaMemset(void* d, int v, size_t n) { memset(d, v, n); return cudaSuccess; }
static inline cudaError_t cudaMemsetAsync(void* d, int v, size_t n, cudaStream_t = nullptr) { return cudaMemset(d, v, n); }
static inline cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }
static inline cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
static inline cudaError_t cudaGetLastError() {
  cudaError_t e = qkc_emu::last_error();
  qkc_emu::last_error() = cudaSuccess;
  return e;
}
static inline const char* cudaGetErrorString(cudaError_t e) {
  return e == cudaSuccess ? "no error" : e == cudaErrorInvalidValue ? "invalid argument" : "out of memory";
}
