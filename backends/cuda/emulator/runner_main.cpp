/*
 * A host for one generated .cu built with -DQKC_DISPATCH: runs one launcher
 * by name on buffers kept in files. Usage: qkc-cuda-host JOB, where JOB is
 *   kernel NAME
 *   buffer PATH BYTES     (one per buffer parameter, in order; read, then written back)
 *   scalar BITS           (one per scalar parameter, in order; the 32-bit pattern)
 * Exit status: 0, or 1 with a one-line reason on stderr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <string>
#include <vector>

#include <cuda_runtime.h>

extern "C" int qkc_dispatch(const char* name, void** buffers, const uint32_t* scalars, void* workspace,
                            cudaStream_t stream);
extern "C" int qkc_workspace_bytes(const char* name);

static void die(const char* what, const char* detail) {
  fprintf(stderr, "qkc-cuda-host: %s %s\n", what, detail);
  exit(1);
}

int main(int argc, char** argv) {
  if (argc != 2) die("usage:", "qkc-cuda-host JOB");
  FILE* job = fopen(argv[1], "r");
  if (!job) die("cannot read", argv[1]);
  char word[64], arg[4096];
  std::string kernel;
  std::vector<std::string> paths;
  std::vector<size_t> sizes;
  std::vector<uint32_t> scalars;
  while (fscanf(job, "%63s %4095s", word, arg) == 2) {
    if (!strcmp(word, "kernel")) kernel = arg;
    else if (!strcmp(word, "scalar")) scalars.push_back((uint32_t)strtoul(arg, nullptr, 10));
    else if (!strcmp(word, "buffer")) {
      unsigned long long n;
      if (fscanf(job, "%llu", &n) != 1) die("no size for", arg);
      paths.push_back(arg);
      sizes.push_back((size_t)n);
    } else die("unknown job line", word);
  }
  fclose(job);
  std::vector<void*> buffers;
  for (size_t i = 0; i < paths.size(); i++) {
    void* p = nullptr;
    cudaMalloc(&p, sizes[i]);
    FILE* f = fopen(paths[i].c_str(), "rb");
    if (!f || fread(p, 1, sizes[i], f) != sizes[i]) die("cannot read", paths[i].c_str());
    fclose(f);
    buffers.push_back(p);
  }
  void* workspace = nullptr;
  cudaMalloc(&workspace, (size_t)qkc_workspace_bytes(kernel.c_str()));
  int rc = qkc_dispatch(kernel.c_str(), buffers.data(), scalars.data(), workspace, nullptr);
  if (rc < 0) die("no kernel named", kernel.c_str());
  if (rc != 0) die("launch failed:", cudaGetErrorString((cudaError_t)rc));
  for (size_t i = 0; i < paths.size(); i++) {
    FILE* f = fopen(paths[i].c_str(), "wb");
    if (!f || fwrite(buffers[i], 1, sizes[i], f) != sizes[i]) die("cannot write", paths[i].c_str());
    fclose(f);
  }
  return 0;
}
