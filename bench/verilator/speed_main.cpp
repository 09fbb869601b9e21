// Free-running Verilator harness for rtmap_top: the program is baked into program memory,
// the host streams are always ready (random input words), and nothing from Python touches a
// cycle. Prints: clock edges, wall seconds, the design's cycles counter for the last run.
// (Verilator spells the ports' double underscores as ___05F.)
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "Vrtmap_top.h"
#include "verilated.h"

int main(int argc, char** argv) {
    Verilated::commandArgs(argc, argv);
    const long runs = argc > 1 ? std::atol(argv[1]) : 10;
    auto* top = new Vrtmap_top;
    uint64_t edges = 0;
    auto tick = [&]() {
        top->clk = 0;
        top->eval();
        top->clk = 1;
        top->eval();
        ++edges;
    };
    top->rst = 1;
    tick();
    tick();
    top->rst = 0;
    top->data_in___05Fvalid = 1;
    top->data_out___05Fready = 1;
    uint32_t lcg = 1;
    const auto begin = std::chrono::steady_clock::now();
    const uint64_t first = edges;
    for (long run = 0; run < runs; ++run) {
        top->start = 1;
        tick();
        top->start = 0;
        while (!top->done && !top->error) {
            lcg = lcg * 1664525u + 1013904223u;
            top->data_in___05Fpayload = lcg;
            tick();
        }
        if (top->error) {
            std::printf("error %d\n", static_cast<int>(top->error_code));
            return 1;
        }
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
    std::printf("%llu %.6f %u\n", static_cast<unsigned long long>(edges - first), seconds,
                static_cast<unsigned>(top->cycles));
    top->final();
    delete top;
    return 0;
}
