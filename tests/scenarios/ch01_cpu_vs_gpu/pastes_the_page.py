# The page's own pieces handed in under the exercise's names: the vector add's bytes, the model
# of bytes over bandwidth, the host-clock timer, the crossover read off measurements. None of
# them answers the case asked (a matrix product, its roofline, the device's clock, two models):
# every part's points are lost (0 of 10). The crossover keeps the page's body, its arguments
# renamed in order.
# %% bytes_answer
def product_bytes(m, k, n, itemsize):
    return 3 * n * itemsize


def product_flops(m, k, n):
    return n
# %% model_answer
def roofline_seconds(m, k, n, itemsize, bandwidth, flop_rate, overhead=0.0):
    return overhead + product_bytes(m, k, n, itemsize) / bandwidth
# %% timer_answer
import statistics
import time


def time_events(fn, new_event, repeats=5, warmup=1, clock=time.perf_counter):
    for _ in range(warmup):
        fn()
    new_event()
    samples = []
    for _ in range(repeats):
        start = clock()
        fn()
        new_event()
        samples.append(clock() - start)
    return statistics.median(samples)
# %% crossover_answer
def model_crossover(cpu, gpu, itemsize=4):
    answer = None
    for n, c, g in reversed(list(zip(cpu, gpu, itemsize))):
        if not g < c:
            break
        answer = n
    return answer
