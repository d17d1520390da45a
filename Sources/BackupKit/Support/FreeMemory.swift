import CSystemShims

/// Gives the heap's free pages back to the system (glibc's `malloc_trim`), after a phase that
/// allocated much and freed it all, so that the phases after it do not stack their peak on pages the
/// allocator kept. A run's peak resident memory is what the operator's limits see.
package func releaseFreeMemory() {
    _ = bk_release_free_memory()
}
