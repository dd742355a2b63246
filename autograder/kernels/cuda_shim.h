// cuda_shim.h - CUDA's built-ins for ordinary C++, so that a course kernel written for
// cupy.RawKernel runs on a CPU, under AddressSanitizer, ThreadSanitizer, or a read counter.
//
// This header is all a kernel's translation unit includes: C headers and small inline
// functions only, so that compiling a new kernel takes a fraction of a second. The threads,
// barriers, warps and the launcher live in cuda_shim_runtime.cpp, compiled once per
// sanitizer and cached (autograder/kernels/shim.py builds both and links them).
//
// How it maps CUDA onto the CPU:
//   * one std::thread per CUDA thread of a block; the blocks of a grid run one after the
//     other on the same pool of threads (as a GPU may schedule them);
//   * __syncthreads() is a barrier of the block's threads; a thread that returns from the
//     kernel leaves the barrier (as exited threads do on current GPUs);
//   * warps: the threads 32k..32k+31 of a block (x fastest) form warp k; __shfl*_sync,
//     __ballot_sync, __any_sync, __all_sync and __syncwarp are meetings of the warp's lanes
//     named in the mask that have not exited, so a warp-shuffle reduction runs as on a GPU;
//   * threadIdx and blockIdx are thread_local, blockDim and gridDim are read-only globals;
//   * __shared__ becomes `static`: one copy, used by the block that is running, so it is
//     shared by the threads of a block and its contents pass from block to block
//     (on a GPU they are undefined at the start of a block);
//   * `extern __shared__ T name[];` (dynamic shared memory) is rewritten by the Python side
//     into a pointer to a buffer of the launch's shared_mem bytes, allocated per block;
//   * atomics are relaxed atomic operations, as on a GPU (they order nothing else);
//     __threadfence is a sequentially consistent fence.
// Not modelled: textures, cooperative groups, half precision, streams; lanes of one warp
// that meet under different masks at the same time.
#pragma once

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <type_traits>

struct uint3 {
    unsigned int x, y, z;
};
struct dim3 {
    unsigned int x, y, z;
    constexpr dim3(unsigned int x_ = 1, unsigned int y_ = 1, unsigned int z_ = 1) : x(x_), y(y_), z(z_) {}
    constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
    constexpr operator uint3() const { return uint3{x, y, z}; }
};
struct float2 { float x, y; };
struct float3 { float x, y, z; };
struct float4 { float x, y, z, w; };
struct int2 { int x, y; };
struct int3 { int x, y, z; };
struct int4 { int x, y, z, w; };
struct uint2 { unsigned int x, y; };
struct uint4 { unsigned int x, y, z, w; };
struct double2 { double x, y; };
inline float2 make_float2(float x, float y) { return {x, y}; }
inline float3 make_float3(float x, float y, float z) { return {x, y, z}; }
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
inline int2 make_int2(int x, int y) { return {x, y}; }
inline int3 make_int3(int x, int y, int z) { return {x, y, z}; }
inline int4 make_int4(int x, int y, int z, int w) { return {x, y, z, w}; }
inline uint2 make_uint2(unsigned x, unsigned y) { return {x, y}; }
inline uint3 make_uint3(unsigned x, unsigned y, unsigned z) { return {x, y, z}; }
inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return {x, y, z, w}; }
inline double2 make_double2(double x, double y) { return {x, y}; }

// What the runtime (cuda_shim_runtime.cpp) provides to a kernel.
namespace cudashim {
extern thread_local uint3 t_threadIdx;
extern thread_local uint3 t_blockIdx;
extern dim3 g_blockDim;
extern dim3 g_gridDim;
extern unsigned char* g_dynamic_smem;
void syncthreads();
int vote(int predicate, int mode);  // 0: count, 1: and, 2: or, over the block
// One meeting of a warp: each lane brings 8 bytes; `pick` names the lane whose bytes it gets back
// (mode 0: srcLane, 1: up, 2: down, 3: xor; `width` a power of two up to 32).
unsigned long long warp_shfl(unsigned mask, unsigned long long bits, int mode, int arg, int width);
unsigned warp_ballot(unsigned mask, int predicate);
void warp_sync(unsigned mask);
unsigned warp_active();
}  // namespace cudashim

#ifndef CUDASHIM_RUNTIME

#define threadIdx (::cudashim::t_threadIdx)
#define blockIdx (::cudashim::t_blockIdx)
#define blockDim (static_cast<const dim3&>(::cudashim::g_blockDim))
#define gridDim (static_cast<const dim3&>(::cudashim::g_gridDim))
#define warpSize 32
#define __global__
#define __device__
#define __host__
#define __shared__ static
#define __constant__ static
#define __managed__
#define __forceinline__ inline
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
#define __align__(n) alignas(n)
#ifndef __restrict__
#define __restrict__ __restrict
#endif
#define __CUDA_ARCH__ 750
#define __CUDACC__ 1
#define __CUDACC_RTC__ 1

inline void __syncthreads() { ::cudashim::syncthreads(); }
inline int __syncthreads_count(int p) { return ::cudashim::vote(p, 0); }
inline int __syncthreads_and(int p) { return ::cudashim::vote(p, 1); }
inline int __syncthreads_or(int p) { return ::cudashim::vote(p, 2); }
inline void __threadfence() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
inline void __threadfence_block() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
inline void __threadfence_system() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
template <class T> inline T __ldg(const T* p) { return *p; }

// ---- warp-level primitives: the lanes named in the mask meet, as a warp does ----
namespace cudashim {
template <class T> inline T shfl_as(unsigned mask, T var, int mode, int arg, int width) {
    static_assert(sizeof(T) <= 8, "the shim shuffles values of at most 8 bytes");
    unsigned long long bits = 0;
    memcpy(&bits, &var, sizeof(T));
    bits = warp_shfl(mask, bits, mode, arg, width);
    T out;
    memcpy(&out, &bits, sizeof(T));
    return out;
}
}  // namespace cudashim
template <class T> inline T __shfl_sync(unsigned mask, T var, int src, int width = 32) {
    return ::cudashim::shfl_as(mask, var, 0, src, width);
}
template <class T> inline T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = 32) {
    return ::cudashim::shfl_as(mask, var, 1, (int)delta, width);
}
template <class T> inline T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = 32) {
    return ::cudashim::shfl_as(mask, var, 2, (int)delta, width);
}
template <class T> inline T __shfl_xor_sync(unsigned mask, T var, int lane_mask, int width = 32) {
    return ::cudashim::shfl_as(mask, var, 3, lane_mask, width);
}
inline unsigned __ballot_sync(unsigned mask, int p) { return ::cudashim::warp_ballot(mask, p); }
inline int __any_sync(unsigned mask, int p) { return ::cudashim::warp_ballot(mask, p) != 0; }
inline int __all_sync(unsigned mask, int p) { return ::cudashim::warp_ballot(mask, !p) == 0; }
inline void __syncwarp(unsigned mask = 0xffffffffu) { ::cudashim::warp_sync(mask); }
inline unsigned __activemask() { return ::cudashim::warp_active(); }

// ---- atomics: relaxed, the old value returned, as in CUDA ----
namespace cudashim {
template <class T, class F> inline T atomic_update(T* p, F f) {
    T old;
    __atomic_load(p, &old, __ATOMIC_RELAXED);
    T want = f(old);
    while (!__atomic_compare_exchange(p, &old, &want, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) want = f(old);
    return old;
}
}  // namespace cudashim
template <class T, class U> inline T atomicAdd(T* p, U v) {
    if constexpr (std::is_integral_v<T>) return __atomic_fetch_add(p, (T)v, __ATOMIC_RELAXED);
    else return ::cudashim::atomic_update(p, [&](T o) { return (T)(o + (T)v); });
}
template <class T, class U> inline T atomicSub(T* p, U v) { return __atomic_fetch_sub(p, (T)v, __ATOMIC_RELAXED); }
template <class T, class U> inline T atomicAnd(T* p, U v) { return __atomic_fetch_and(p, (T)v, __ATOMIC_RELAXED); }
template <class T, class U> inline T atomicOr(T* p, U v) { return __atomic_fetch_or(p, (T)v, __ATOMIC_RELAXED); }
template <class T, class U> inline T atomicXor(T* p, U v) { return __atomic_fetch_xor(p, (T)v, __ATOMIC_RELAXED); }
template <class T, class U> inline T atomicExch(T* p, U v) {
    T want = (T)v, old;
    __atomic_exchange(p, &want, &old, __ATOMIC_RELAXED);
    return old;
}
template <class T, class U, class V> inline T atomicCAS(T* p, U compare, V v) {
    T old = (T)compare, want = (T)v;
    __atomic_compare_exchange(p, &old, &want, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
    return old;
}
template <class T, class U> inline T atomicMax(T* p, U v) {
    return ::cudashim::atomic_update(p, [&](T o) { return o < (T)v ? (T)v : o; });
}
template <class T, class U> inline T atomicMin(T* p, U v) {
    return ::cudashim::atomic_update(p, [&](T o) { return (T)v < o ? (T)v : o; });
}
inline unsigned int atomicInc(unsigned int* p, unsigned int limit) {
    return ::cudashim::atomic_update(p, [&](unsigned o) { return o >= limit ? 0u : o + 1u; });
}
inline unsigned int atomicDec(unsigned int* p, unsigned int limit) {
    return ::cudashim::atomic_update(p, [&](unsigned o) { return (o == 0u || o > limit) ? limit : o - 1u; });
}

// ---- device math that <math.h> does not spell the CUDA way ----
inline float __expf(float x) { return expf(x); }
inline float __logf(float x) { return logf(x); }
inline float __sinf(float x) { return sinf(x); }
inline float __cosf(float x) { return cosf(x); }
inline float __tanf(float x) { return tanf(x); }
inline float __powf(float x, float y) { return powf(x, y); }
inline float __fdividef(float x, float y) { return x / y; }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __fsqrt_rn(float x) { return sqrtf(x); }
inline float __saturatef(float x) { return x < 0.f ? 0.f : (x > 1.f ? 1.f : x); }
inline float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline double rsqrt(double x) { return 1.0 / sqrt(x); }
inline int __float2int_rn(float x) { return (int)nearbyintf(x); }
inline int __float2int_rz(float x) { return (int)x; }
inline float __int2float_rn(int x) { return (float)x; }
inline int __mul24(int a, int b) { return a * b; }
inline int __popc(unsigned int x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz((unsigned)x); }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline unsigned __brev(unsigned x) {
    unsigned r = 0;
    for (int i = 0; i < 32; ++i) r |= ((x >> i) & 1u) << (31 - i);
    return r;
}
template <class A, class B> inline auto min(A a, B b) -> std::common_type_t<A, B> {
    return b < a ? b : a;
}
template <class A, class B> inline auto max(A a, B b) -> std::common_type_t<A, B> {
    return a < b ? b : a;
}

#endif  // CUDASHIM_RUNTIME
