/* A counting allocator for bench/allocations/allocations.py: preloaded into a glibc relayguard
 * (LD_PRELOAD), it counts every malloc, calloc, realloc, aligned allocation and free, and the octets
 * asked for, in a file mapped shared (ALLOC_COUNT_FILE), so the benchmark reads the counts of a running
 * process before and after a workload. The allocations themselves are glibc's (__libc_*): the counts are
 * of calls, not a different allocator's behaviour. Not part of relayguard. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

extern void* __libc_malloc(size_t size);
extern void* __libc_calloc(size_t count, size_t size);
extern void* __libc_realloc(void* pointer, size_t size);
extern void* __libc_memalign(size_t alignment, size_t size);
extern void __libc_free(void* pointer);

/* The layout allocations.py reads: four 64-bit counters in the machine's byte order. */
struct alloc_counts {
    uint64_t allocations; /* malloc, calloc, aligned: a new block */
    uint64_t reallocations;
    uint64_t frees; /* free of a non-null pointer */
    uint64_t octets; /* asked for by allocations and reallocations */
};

static struct alloc_counts unmapped;
static struct alloc_counts* counts = &unmapped;

__attribute__((constructor)) static void map_counts(void) {
    const char* path = getenv("ALLOC_COUNT_FILE");
    if (path == NULL) {
        return;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        return;
    }
    if (ftruncate(fd, sizeof *counts) == 0) {
        void* mapped = mmap(NULL, sizeof *counts, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (mapped != MAP_FAILED) {
            counts = mapped;
        }
    }
    close(fd);
}

static void count(uint64_t* counter, size_t octets) {
    __atomic_add_fetch(counter, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&counts->octets, octets, __ATOMIC_RELAXED);
}

void* malloc(size_t size) {
    count(&counts->allocations, size);
    return __libc_malloc(size);
}

void* calloc(size_t number, size_t size) {
    count(&counts->allocations, number * size);
    return __libc_calloc(number, size);
}

void* realloc(void* pointer, size_t size) {
    count(pointer == NULL ? &counts->allocations : &counts->reallocations, size);
    return __libc_realloc(pointer, size);
}

void* memalign(size_t alignment, size_t size) {
    count(&counts->allocations, size);
    return __libc_memalign(alignment, size);
}

void* aligned_alloc(size_t alignment, size_t size) {
    return memalign(alignment, size);
}

int posix_memalign(void** result, size_t alignment, size_t size) {
    void* block = memalign(alignment, size);
    if (block == NULL) {
        return ENOMEM;
    }
    *result = block;
    return 0;
}

void free(void* pointer) {
    if (pointer != NULL) {
        __atomic_add_fetch(&counts->frees, 1, __ATOMIC_RELAXED);
    }
    __libc_free(pointer);
}
