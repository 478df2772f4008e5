/* Found before the CUDA toolkit's header when compiling with -I backends/cuda/emulator:
 * the generated .cu then builds with g++ and runs on the CPU (qkc_emu.h). */
#pragma once
#include "qkc_emu.h"
