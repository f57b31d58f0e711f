/* libhinetd-test-failalloc.so: an LD_PRELOAD shim that makes malloc,
 * calloc, realloc and the aligned allocators fail (NULL, ENOMEM) in one
 * process, while a test says so. The test names the process and switches
 * failure on and off through a small file shared with it: the path is in
 * HINETD_TEST_FAILALLOC, the file holds a struct Control. Every other
 * process that loads the shim (hinetd's listener, its children) is left
 * alone. Only for tests (ExhaustionTest): memory allocation failing in
 * hinetd's monitor. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

struct Control {
  volatile int32_t pid;     /* the process whose allocations fail, 0: none */
  volatile int32_t fail;    /* non-zero: every allocation fails */
  volatile int64_t failed;  /* how many did (for the test) */
};

extern void* __libc_malloc(size_t);
extern void* __libc_calloc(size_t, size_t);
extern void* __libc_realloc(void*, size_t);
extern void* __libc_memalign(size_t, size_t);

static struct Control* control;

__attribute__((constructor)) static void Attach(void) {
  const char* path = getenv("HINETD_TEST_FAILALLOC");
  if (path == NULL) return;
  int fd = open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0) return;
  void* p = mmap(NULL, sizeof(struct Control), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (p != MAP_FAILED) control = (struct Control*)p;
}

static int Fails(void) {
  if (control == NULL || !control->fail || control->pid != (int32_t)syscall(SYS_getpid)) return 0;
  __atomic_add_fetch(&control->failed, 1, __ATOMIC_RELAXED);
  errno = ENOMEM;
  return 1;
}

void* malloc(size_t n) { return Fails() ? NULL : __libc_malloc(n); }
void* calloc(size_t n, size_t size) { return Fails() ? NULL : __libc_calloc(n, size); }
void* realloc(void* p, size_t n) { return Fails() ? NULL : __libc_realloc(p, n); }
void* memalign(size_t align, size_t n) { return Fails() ? NULL : __libc_memalign(align, n); }
void* aligned_alloc(size_t align, size_t n) { return Fails() ? NULL : __libc_memalign(align, n); }
int posix_memalign(void** out, size_t align, size_t n) {
  if (Fails()) return ENOMEM;
  void* p = __libc_memalign(align, n);
  if (p == NULL) return ENOMEM;
  *out = p;
  return 0;
}
