/*
 * A host for one generated .cu built with -DQKC_DISPATCH: runs one launcher
 * by name on buffers kept in files, copied to device memory and back. Built
 * with g++ against ./cuda_runtime.h it runs on the CPU execution layer; built
 * with nvcc (as a .cu) it runs on the GPU. Usage: qkc-cuda-host JOB, where JOB is
 *   kernel NAME
 *   buffer PATH BYTES     (one per buffer parameter, in order; read, then written back)
 *   scalar BITS           (one per scalar parameter, in order; the 32-bit pattern)
 * Exit status: 0, or 1 with a one-line reason on stderr. With --serve it runs
 * the jobs named on stdin, one a line, answering "ok" or "error REASON" each.
 * QKC_HOST_OFFSET=N places every buffer N bytes past an aligned allocation (the
 * tests use 4, so that no chunk qualifies for 128-bit accesses).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <string>
#include <vector>

#include <cuda_runtime.h>

extern "C" int qkc_dispatch(const char* name, int nbuffers, void** buffers, int nscalars, const uint32_t* scalars,
                            void* workspace, cudaStream_t stream);
extern "C" int qkc_workspace_bytes(const char* name);

/* Runs one job; on failure returns false with the reason in `why`. */
static size_t buffer_offset() {
  const char* v = getenv("QKC_HOST_OFFSET");
  return v ? (size_t)strtoul(v, nullptr, 10) : 0;
}

static bool run_job(const char* path, std::string& why) {
  FILE* job = fopen(path, "r");
  if (!job) return why = std::string("cannot read ") + path, false;
  char word[64], arg[4096];
  std::string kernel;
  std::vector<std::string> paths;
  std::vector<size_t> sizes;
  std::vector<uint32_t> scalars;
  bool ok = true;
  while (ok && fscanf(job, "%63s %4095s", word, arg) == 2) {
    if (!strcmp(word, "kernel")) kernel = arg;
    else if (!strcmp(word, "scalar")) scalars.push_back((uint32_t)strtoul(arg, nullptr, 10));
    else if (!strcmp(word, "buffer")) {
      unsigned long long n;
      if (fscanf(job, "%llu", &n) != 1) ok = (why = std::string("no size for ") + arg, false);
      paths.push_back(arg);
      sizes.push_back((size_t)n);
    } else ok = (why = std::string("unknown job line ") + word, false);
  }
  fclose(job);
  std::vector<void*> buffers, allocations;
  std::vector<std::vector<unsigned char>> host(paths.size());
  const size_t offset = buffer_offset();
  for (size_t i = 0; ok && i < paths.size(); i++) {
    void* a = nullptr;
    if (cudaMalloc(&a, sizes[i] + offset + 1) != cudaSuccess) ok = (why = "out of device memory", false);
    allocations.push_back(a);
    void* p = (unsigned char*)a + offset;
    buffers.push_back(p);
    host[i].resize(sizes[i]);
    FILE* f = fopen(paths[i].c_str(), "rb");
    if (!f || fread(host[i].data(), 1, sizes[i], f) != sizes[i]) ok = (why = "cannot read " + paths[i], false);
    if (f) fclose(f);
    if (ok) cudaMemcpy(p, host[i].data(), sizes[i], cudaMemcpyHostToDevice);
  }
  void* workspace = nullptr;
  if (ok) {
    cudaMalloc(&workspace, (size_t)qkc_workspace_bytes(kernel.c_str()));
    int rc = qkc_dispatch(kernel.c_str(), (int)buffers.size(), buffers.data(), (int)scalars.size(), scalars.data(),
                          workspace, nullptr);
    if (rc == -1) ok = (why = "no kernel named " + kernel, false);
    else if (rc == -2) ok = (why = kernel + " takes other buffers or scalars than the job gives", false);
    else if (rc != 0) ok = (why = std::string("launch failed: ") + cudaGetErrorString((cudaError_t)rc), false);
    if (ok && cudaDeviceSynchronize() != cudaSuccess) ok = (why = "the kernel failed on the device", false);
  }
  for (size_t i = 0; ok && i < paths.size(); i++) {
    cudaMemcpy(host[i].data(), buffers[i], sizes[i], cudaMemcpyDeviceToHost);
    FILE* f = fopen(paths[i].c_str(), "wb");
    if (!f || fwrite(host[i].data(), 1, sizes[i], f) != sizes[i]) ok = (why = "cannot write " + paths[i], false);
    if (f) fclose(f);
  }
  for (void* a : allocations) cudaFree(a);
  cudaFree(workspace);
  return ok;
}

/* `qkc-cuda-host JOB` runs one job; `qkc-cuda-host --serve` reads job paths
 * from stdin, one a line, and answers each with "ok" or "error REASON". */
int main(int argc, char** argv) {
  std::string why;
  if (argc == 2 && strcmp(argv[1], "--serve") != 0) {
    if (run_job(argv[1], why)) return 0;
    fprintf(stderr, "qkc-cuda-host: %s\n", why.c_str());
    return 1;
  }
  if (argc != 2) {
    fprintf(stderr, "usage: qkc-cuda-host JOB | qkc-cuda-host --serve\n");
    return 2;
  }
  char line[4096];
  while (fgets(line, sizeof line, stdin)) {
    line[strcspn(line, "\n")] = 0;
    if (run_job(line, why)) printf("ok\n");
    else printf("error %s\n", why.c_str());
    fflush(stdout);
  }
  return 0;
}
