// cuda_shim_runtime.cpp - the CPU side of cuda_shim.h: the pool of CUDA threads, block
// barriers, warp meetings and the launcher's main(). Compiled once per build kind and cached:
//   address / thread: with -fsanitize=address or thread (the kernel is compiled the same way);
//   count (-DCUDASHIM_COUNT): no sanitizer; the kernel is compiled with
//     -fsanitize=kernel-address and calls, for every load and store it makes, the
//     __asan_*_noabort functions defined below, which count global-memory traffic per array,
//     the barriers each thread passes, and (CUDASHIM_SINGLE_WRITER=1) two threads writing
//     the same element of an array, across blocks too (ThreadSanitizer sees a block only).
// The kernel's translation unit defines `cudashim_call(args)`, which calls the kernel with
// the launch's arguments; argv is in0 out0 in1 out1 ... (files written by shim.py).
//
// Synchronisation is arranged so that ThreadSanitizer sees exactly what a GPU orders: a
// block's threads are released together and report their end through a release-only atomic,
// so no thread's work is ordered before another's unless the kernel itself orders it.
#define CUDASHIM_RUNTIME 1
#include "cuda_shim.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <pthread.h>
#include <thread>
#include <unistd.h>
#include <vector>
#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/asan_interface.h>
#endif
#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#endif

extern "C" void cudashim_call(void* const* args);
extern "C" __attribute__((weak)) void __sanitizer_set_death_callback(void (*)(void));

namespace cudashim {

thread_local uint3 t_threadIdx{0, 0, 0};
thread_local uint3 t_blockIdx{0, 0, 0};
thread_local bool t_in_kernel = false;
thread_local unsigned t_tid = 0;  // linear thread index in the block
dim3 g_blockDim;
dim3 g_gridDim;
unsigned char* g_dynamic_smem = nullptr;

[[noreturn]] static void fail(const char* what) {
    std::fprintf(stderr, "@@SHIM %s\n", what);
    std::exit(3);
}

// ---------------------------------------------------------------- counting (the count build)
#ifdef CUDASHIM_COUNT
extern "C" char __executable_start __attribute__((weak));  // where the program is loaded (GNU ld)
struct Range {
    std::size_t arg = 0;
    uintptr_t base = 0, end = 0;
    std::size_t itemsize = 1;
    std::vector<unsigned> owner;  // per element: 1 + global thread index of its last writer
};
static std::vector<Range> g_ranges;
static bool g_single_writer = false;
static std::size_t g_launch = 0;
static std::mutex g_count_mutex;
static std::vector<unsigned long long> g_read_bytes, g_write_bytes;
static double g_max_reads = 0, g_max_writes = 0;
static unsigned long long g_touching = 0;
static unsigned g_max_syncs = 0;
constexpr int MAX_RANGES = 32;
thread_local unsigned long long t_read_bytes[MAX_RANGES], t_write_bytes[MAX_RANGES];
thread_local unsigned t_syncs = 0;
thread_local unsigned t_gid = 0;

static void count(uintptr_t a, std::size_t n, bool write, void* pc) {
    if (!t_in_kernel) return;
    for (std::size_t r = 0; r < g_ranges.size() && r < MAX_RANGES; ++r) {
        Range& R = g_ranges[r];
        if (a < R.base || a >= R.end) continue;
        if (!write) {
            t_read_bytes[r] += n;
            return;
        }
        t_write_bytes[r] += n;
        if (g_single_writer) {
            std::size_t first = (a - R.base) / R.itemsize, last = (a + n - 1 - R.base) / R.itemsize;
            for (std::size_t e = first; e <= last && e < R.owner.size(); ++e) {
                unsigned prev = __atomic_exchange_n(&R.owner[e], t_gid + 1, __ATOMIC_RELAXED);
                if (prev != 0 && prev != t_gid + 1) {
                    uintptr_t base = &__executable_start ? (uintptr_t)&__executable_start : 0;
                    std::fprintf(stderr, "@@DOUBLE_WRITE %zu %zu %zu %u %u 0x%zx\n", g_launch, R.arg, e, prev - 1, t_gid,
                                 (std::size_t)((uintptr_t)pc - base - 1));
                    std::fflush(stderr);
                    std::_Exit(67);
                }
            }
        }
        return;
    }
}

static void thread_done() {
    std::lock_guard<std::mutex> lock(g_count_mutex);
    double reads = 0, writes = 0;
    for (std::size_t r = 0; r < g_ranges.size() && r < MAX_RANGES; ++r) {
        g_read_bytes[r] += t_read_bytes[r];
        g_write_bytes[r] += t_write_bytes[r];
        reads += (double)t_read_bytes[r] / g_ranges[r].itemsize;
        writes += (double)t_write_bytes[r] / g_ranges[r].itemsize;
        t_read_bytes[r] = t_write_bytes[r] = 0;
    }
    g_max_reads = std::max(g_max_reads, reads);
    g_max_writes = std::max(g_max_writes, writes);
    if (reads + writes > 0) ++g_touching;
    g_max_syncs = std::max(g_max_syncs, t_syncs);
    t_syncs = 0;
}
#else
static void thread_done() {}
#endif

}  // namespace cudashim

#ifdef CUDASHIM_COUNT
extern "C" {
#define CUDASHIM_ACCESS(n)                                                                         \
    void __asan_load##n##_noabort(uintptr_t a) { ::cudashim::count(a, n, false, nullptr); }        \
    void __asan_store##n##_noabort(uintptr_t a) { ::cudashim::count(a, n, true, __builtin_return_address(0)); }
CUDASHIM_ACCESS(1)
CUDASHIM_ACCESS(2)
CUDASHIM_ACCESS(4)
CUDASHIM_ACCESS(8)
CUDASHIM_ACCESS(16)
void __asan_loadN_noabort(uintptr_t a, std::size_t n) { ::cudashim::count(a, n, false, nullptr); }
void __asan_storeN_noabort(uintptr_t a, std::size_t n) { ::cudashim::count(a, n, true, __builtin_return_address(0)); }
void __asan_handle_no_return() {}
}
#endif

namespace cudashim {

// ---------------------------------------------------------------- the block barrier
// A barrier that threads may leave (arrive_and_drop), built on a mutex and a condition
// variable so that ThreadSanitizer sees every happens-before edge it creates.
class Barrier {
  public:
    void reset(int n) {
        std::lock_guard<std::mutex> lock(m_);
        expected_ = n;
        arrived_ = 0;
    }
    void arrive_and_wait() {
        std::unique_lock<std::mutex> lock(m_);
        unsigned long gen = generation_;
        if (++arrived_ >= expected_) {
            release_locked();
        } else {
            cv_.wait(lock, [&] { return generation_ != gen; });
        }
    }
    void arrive_and_drop() {
        std::lock_guard<std::mutex> lock(m_);
        --expected_;
        if (expected_ > 0 && arrived_ >= expected_) release_locked();
    }

  private:
    void release_locked() {
        arrived_ = 0;
        ++generation_;
        cv_.notify_all();
    }
    std::mutex m_;
    std::condition_variable cv_;
    int expected_ = 0;
    int arrived_ = 0;
    unsigned long generation_ = 0;
};

static Barrier g_barrier;

void syncthreads() {
#ifdef CUDASHIM_COUNT
    ++t_syncs;
#endif
    g_barrier.arrive_and_wait();
}

// __syncthreads_count/and/or: a shared tally between barriers.
static std::mutex g_vote_mutex;
static int g_vote_count = 0, g_vote_total = 0;

int vote(int predicate, int mode) {
    {
        std::lock_guard<std::mutex> lock(g_vote_mutex);
        g_vote_count += predicate ? 1 : 0;
        g_vote_total += 1;
    }
    syncthreads();
    int count, total;
    {
        std::lock_guard<std::mutex> lock(g_vote_mutex);
        count = g_vote_count;
        total = g_vote_total;
    }
    syncthreads();
    {
        std::lock_guard<std::mutex> lock(g_vote_mutex);
        g_vote_count = 0;
        g_vote_total = 0;
    }
    syncthreads();
    if (mode == 0) return count;
    if (mode == 1) return count == total;
    return count > 0;
}

// ---------------------------------------------------------------- warps
// A meeting of the lanes of one warp named in the mask (and not exited). Slots are kept for
// two meetings, so a lane that hurries on to the next meeting does not overwrite what a slow
// lane still reads.
struct Warp {
    std::mutex m;
    std::condition_variable cv;
    unsigned live = 0, arrived = 0, mask = 0;
    unsigned long gen = 0;
    unsigned long long slot[2][32] = {};
    unsigned present[2] = {0, 0};

    void release_locked() {
        present[gen & 1] = arrived;
        arrived = 0;
        ++gen;
        cv.notify_all();
    }
    // Meet; returns the parity whose slots and `present` hold this meeting's values.
    int meet(std::unique_lock<std::mutex>& lock, unsigned lane, unsigned m_, unsigned long long bits) {
        unsigned long g = gen;
        int p = (int)(g & 1);
        if (arrived == 0) mask = m_ | (1u << lane);
        slot[p][lane] = bits;
        arrived |= 1u << lane;
        unsigned need = mask & live;
        if ((arrived & need) == need) release_locked();
        else cv.wait(lock, [&] { return gen != g; });
        return p;
    }
    void leave(unsigned lane) {
        std::lock_guard<std::mutex> lock(m);
        live &= ~(1u << lane);
        unsigned need = mask & live;
        if (arrived != 0 && (arrived & need) == need) release_locked();
    }
};

static Warp g_warps[32];

unsigned long long warp_shfl(unsigned mask, unsigned long long bits, int mode, int arg, int width) {
    unsigned lane = t_tid % 32;
    Warp& W = g_warps[t_tid / 32];
    if (width <= 0 || width > 32 || (width & (width - 1))) width = 32;
    int start = (int)(lane & ~(unsigned)(width - 1));
    int src = (int)lane;
    if (mode == 0) src = start + (arg & (width - 1));
    else if (mode == 1) src = ((int)lane - arg >= start) ? (int)lane - arg : (int)lane;
    else if (mode == 2) src = ((int)lane + arg < start + width) ? (int)lane + arg : (int)lane;
    else if (mode == 3) src = (((int)lane ^ arg) < start + width) ? ((int)lane ^ arg) : (int)lane;
    std::unique_lock<std::mutex> lock(W.m);
    int p = W.meet(lock, lane, mask, bits);
    if (src < 0 || src > 31 || !(W.present[p] & (1u << src))) src = (int)lane;  // undefined on a GPU
    return W.slot[p][src];
}

unsigned warp_ballot(unsigned mask, int predicate) {
    unsigned lane = t_tid % 32;
    Warp& W = g_warps[t_tid / 32];
    std::unique_lock<std::mutex> lock(W.m);
    int p = W.meet(lock, lane, mask, predicate ? 1 : 0);
    unsigned bits = 0;
    for (unsigned l = 0; l < 32; ++l)
        if ((W.present[p] & (1u << l)) && W.slot[p][l]) bits |= 1u << l;
    return bits & mask;
}

void warp_sync(unsigned mask) {
    unsigned lane = t_tid % 32;
    Warp& W = g_warps[t_tid / 32];
    std::unique_lock<std::mutex> lock(W.m);
    W.meet(lock, lane, mask, 0);
}

unsigned warp_active() {
    Warp& W = g_warps[t_tid / 32];
    std::lock_guard<std::mutex> lock(W.m);
    return W.live;
}

// ---------------------------------------------------------------- launches

struct Arg {
    int kind = 0;  // 0: array (pointer), 1: scalar
    std::size_t nbytes = 0, itemsize = 1;
    unsigned char* data = nullptr;  // arrays: exactly nbytes, between two poisoned guard zones
    unsigned char* raw = nullptr;
    unsigned char scalar[16] = {0};
};

// An array with a guard zone before and after it (as large as the array, and 4 KiB more),
// poisoned under AddressSanitizer: an index that overshoots lands there and is reported, never
// in another allocation it would silently corrupt (which would crash some other thread later).
static std::size_t guard_bytes(std::size_t nbytes) { return ((nbytes + 4096 + 63) / 64) * 64; }

static void allocate(Arg& a) {
    const std::size_t g = guard_bytes(a.nbytes);
    a.raw = static_cast<unsigned char*>(std::malloc(a.nbytes + 2 * g));
    a.data = a.raw + g;
#ifdef __SANITIZE_ADDRESS__
    ASAN_POISON_MEMORY_REGION(a.raw, g);
    ASAN_POISON_MEMORY_REGION(a.data + a.nbytes, g);
#endif
}

static void release(Arg& a) {
#ifdef __SANITIZE_ADDRESS__
    ASAN_UNPOISON_MEMORY_REGION(a.raw, a.nbytes + 2 * guard_bytes(a.nbytes));
#endif
    std::free(a.raw);
    a.raw = a.data = nullptr;
}

struct Launch {
    unsigned grid[3] = {1, 1, 1};
    unsigned block[3] = {1, 1, 1};
    std::uint64_t shared_mem = 0, block_first = 0, block_count = 0;  // count 0: every block
    std::vector<Arg> args;
    std::vector<void*> argp;  // what cudashim_call receives: the address of each argument's value
};

static Launch read_launch(const char* path) {
    Launch L;
    FILE* f = std::fopen(path, "rb");
    if (!f) fail("cannot open the argument file");
    char magic[8];
    std::uint32_t nargs = 0;
    if (std::fread(magic, 1, 8, f) != 8 || std::memcmp(magic, "CSHIM02", 7) != 0) fail("bad argument file");
    if (std::fread(L.grid, 4, 3, f) != 3 || std::fread(L.block, 4, 3, f) != 3 ||
        std::fread(&L.shared_mem, 8, 1, f) != 1 || std::fread(&L.block_first, 8, 1, f) != 1 ||
        std::fread(&L.block_count, 8, 1, f) != 1 || std::fread(&nargs, 4, 1, f) != 1)
        fail("short argument file");
    L.args.resize(nargs);
    for (auto& a : L.args) {
        std::uint64_t head[3] = {0, 0, 1};
        if (std::fread(head, 8, 3, f) != 3) fail("short argument file");
        a.kind = (int)head[0];
        a.nbytes = head[1];
        a.itemsize = head[2] ? head[2] : 1;
        if (a.kind == 0) {
            allocate(a);
            if (a.nbytes && std::fread(a.data, 1, a.nbytes, f) != a.nbytes) fail("short argument file");
        } else {
            if (a.nbytes > sizeof a.scalar || std::fread(a.scalar, 1, a.nbytes, f) != a.nbytes) fail("bad scalar");
        }
    }
    std::fclose(f);
    return L;
}

static void write_outputs(const Launch& L, const char* path) {
    FILE* f = std::fopen(path, "wb");
    if (!f) fail("cannot write the output file");
    for (const auto& a : L.args)
        if (a.kind == 0 && a.nbytes) std::fwrite(a.data, 1, a.nbytes, f);
    std::fclose(f);
}

static void report_cuda_thread() {
    if (t_in_kernel)
        std::fprintf(stderr, "\n@@CUDA_THREAD blockIdx=(%u,%u,%u) threadIdx=(%u,%u,%u)\n", t_blockIdx.x,
                     t_blockIdx.y, t_blockIdx.z, t_threadIdx.x, t_threadIdx.y, t_threadIdx.z);
}

// Waiting without a lock: a lock (or libstdc++'s atomic wait, which counts its waiters with
// read-modify-writes) would order one worker's finished work before another's start, and
// ThreadSanitizer would then miss races between them. Each worker acquires only what the
// launcher released, and reports its end with a release-only atomic.
static unsigned load_acquire(const unsigned* p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }

static void sleep_while(unsigned* p, unsigned value) {
    while (load_acquire(p) == value) {
#ifdef __linux__
        syscall(SYS_futex, p, FUTEX_WAIT_PRIVATE, value, nullptr, nullptr, 0);
#else
        std::this_thread::yield();
#endif
    }
}

static void wake_all(unsigned* p) {
#ifdef __linux__
    syscall(SYS_futex, p, FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
#else
    (void)p;
#endif
}

// A pool of CUDA threads, created once per process (thread creation is the slow part under
// ThreadSanitizer); each launch runs its blocks in order on the first blockDim threads.
class Pool {
  public:
    explicit Pool(unsigned size) : size_(size) {
        workers_.reserve(size);
        for (unsigned t = 0; t < size; ++t) workers_.emplace_back([this, t] { worker(t); });
    }
    ~Pool() {
        __atomic_store_n(&quit_, true, __ATOMIC_RELAXED);
        __atomic_store_n(&generation_, generation_ + 1, __ATOMIC_RELEASE);
        wake_all(&generation_);
        for (auto& w : workers_) w.join();
    }

    void run(Launch& L) {
        const dim3 grid(L.grid[0], L.grid[1], L.grid[2]), block(L.block[0], L.block[1], L.block[2]);
        const unsigned n = block.x * block.y * block.z;
        if (n > size_) fail("block larger than the thread pool");
        const std::uint64_t blocks = (std::uint64_t)grid.x * grid.y * grid.z;
        const std::uint64_t first = std::min<std::uint64_t>(L.block_first, blocks);
        const std::uint64_t last = L.block_count ? std::min<std::uint64_t>(blocks, first + L.block_count) : blocks;
        g_blockDim = block;
        g_gridDim = grid;
        args_ = L.argp.data();
        __atomic_store_n(&active_, n, __ATOMIC_RELAXED);   // read by idle workers too, unordered
        for (std::uint64_t b = first; b < last; ++b) {
            unsigned char* smem = static_cast<unsigned char*>(std::malloc(L.shared_mem ? L.shared_mem : 1));
            for (unsigned w = 0; w < (n + 31) / 32; ++w) {
                std::lock_guard<std::mutex> lock(g_warps[w].m);
                unsigned lanes = std::min(32u, n - 32 * w);
                g_warps[w].live = lanes == 32 ? 0xffffffffu : ((1u << lanes) - 1);
                g_warps[w].arrived = 0;
            }
            g_dynamic_smem = smem;
            g_barrier.reset((int)n);
            block_idx_ = uint3{(unsigned)(b % grid.x), (unsigned)((b / grid.x) % grid.y),
                               (unsigned)(b / ((std::uint64_t)grid.x * grid.y))};
            block_linear_ = (unsigned)b;
            __atomic_store_n(&finished_, 0u, __ATOMIC_RELAXED);
            __atomic_store_n(&generation_, generation_ + 1, __ATOMIC_RELEASE);   // the block starts
            wake_all(&generation_);
            for (unsigned f; (f = load_acquire(&finished_)) != n;) sleep_while(&finished_, f);
            g_dynamic_smem = nullptr;
            std::free(smem);
        }
    }

  private:
    void worker(unsigned t) {
        unsigned seen = 0;
        for (;;) {
            sleep_while(&generation_, seen);
            seen = load_acquire(&generation_);
            if (__atomic_load_n(&quit_, __ATOMIC_RELAXED)) return;
            const unsigned n = __atomic_load_n(&active_, __ATOMIC_RELAXED);
            if (t >= n) continue;
            t_blockIdx = block_idx_;
            const dim3 b = g_blockDim;
            t_threadIdx = uint3{t % b.x, (t / b.x) % b.y, t / (b.x * b.y)};
            t_tid = t;
#ifdef CUDASHIM_COUNT
            t_gid = block_linear_ * n + t;
#endif
            name_thread();
            t_in_kernel = true;
            cudashim_call(args_);
            t_in_kernel = false;
            thread_done();
            g_warps[t / 32].leave(t % 32);
            g_barrier.arrive_and_drop();
            // release only: the end of one thread's work orders nothing in another's
            if (__atomic_add_fetch(&finished_, 1u, __ATOMIC_RELEASE) == n) wake_all(&finished_);
        }
    }
    static void name_thread() {
        // ThreadSanitizer prints a thread's name in its reports: "b<block> t<thread>".
        char name[64];
        auto part = [](char* out, std::size_t size, uint3 v, dim3 extent) {
            if (extent.z > 1) return std::snprintf(out, size, "%u,%u,%u", v.x, v.y, v.z);
            if (extent.y > 1) return std::snprintf(out, size, "%u,%u", v.x, v.y);
            return std::snprintf(out, size, "%u", v.x);
        };
        int k = std::snprintf(name, sizeof name, "b");
        k += part(name + k, sizeof name - k, t_blockIdx, g_gridDim);
        k += std::snprintf(name + k, sizeof name - k, " t");
        part(name + k, sizeof name - k, t_threadIdx, g_blockDim);
        name[15] = 0;
        pthread_setname_np(pthread_self(), name);
    }

    unsigned size_;
    std::vector<std::thread> workers_;
    void* const* args_ = nullptr;
    unsigned generation_ = 0;   // written by the launcher only (release), read by workers (acquire)
    unsigned finished_ = 0;     // workers' ends of a block (release-only increments)
    unsigned active_ = 0;
    uint3 block_idx_{0, 0, 0};
    unsigned block_linear_ = 0;
    bool quit_ = false;
};

}  // namespace cudashim

int main(int argc, char** argv) {
    using namespace cudashim;
    if (__sanitizer_set_death_callback) __sanitizer_set_death_callback(report_cuda_thread);
#ifdef CUDASHIM_COUNT
    const char* sw = std::getenv("CUDASHIM_SINGLE_WRITER");
    g_single_writer = sw && sw[0] == '1';
#endif
    std::vector<Launch> launches;
    unsigned most = 1;
    for (int i = 1; i + 1 < argc; i += 2) {
        launches.push_back(read_launch(argv[i]));
        const Launch& L = launches.back();
        most = std::max(most, L.block[0] * L.block[1] * L.block[2]);
    }
    Pool pool(most);
    for (std::size_t k = 0; k < launches.size(); ++k) {
        Launch& L = launches[k];
        L.argp.clear();
        for (auto& a : L.args) L.argp.push_back(a.kind == 0 ? (void*)&a.data : (void*)a.scalar);
        std::fprintf(stderr, "@@LAUNCH %zu\n", k);
        for (std::size_t a = 0; a < L.args.size(); ++a)
            if (L.args[a].kind == 0)
                std::fprintf(stderr, "@@ARG %zu %p %zu\n", a, (void*)L.args[a].data, L.args[a].nbytes);
        std::fflush(stderr);
#ifdef CUDASHIM_COUNT
        g_launch = k;
        g_ranges.clear();
        std::vector<std::size_t> which;
        for (std::size_t a = 0; a < L.args.size(); ++a) {
            if (L.args[a].kind != 0) continue;
            Range R;
            R.arg = a;
            R.base = (uintptr_t)L.args[a].data;
            R.end = R.base + L.args[a].nbytes;
            R.itemsize = L.args[a].itemsize;
            if (g_single_writer) R.owner.assign(L.args[a].nbytes / R.itemsize, 0u);
            g_ranges.push_back(std::move(R));
            which.push_back(a);
        }
        g_read_bytes.assign(g_ranges.size(), 0);
        g_write_bytes.assign(g_ranges.size(), 0);
        g_max_reads = g_max_writes = 0;
        g_touching = 0;
        g_max_syncs = 0;
#endif
        pool.run(L);
#ifdef CUDASHIM_COUNT
        for (std::size_t r = 0; r < g_ranges.size(); ++r)
            std::fprintf(stderr, "@@ACC %zu %zu %llu %llu\n", k, which[r], g_read_bytes[r] / g_ranges[r].itemsize,
                         g_write_bytes[r] / g_ranges[r].itemsize);
        std::fprintf(stderr, "@@PERTHREAD %zu %.0f %.0f %llu %u\n", k, g_max_reads, g_max_writes, g_touching,
                     g_max_syncs);
#endif
        write_outputs(L, argv[2 * k + 2]);
        for (auto& a : L.args)
            if (a.kind == 0) release(a);
        std::fprintf(stderr, "@@DONE %zu\n", k);
        std::fflush(stderr);
    }
    return 0;
}
