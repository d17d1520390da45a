import Foundation
import Glibc
import Synchronization

/// Runs blocking work (file I/O at disk speed, libarchive, compression) on a thread of its own, so it
/// never occupies a thread of Swift's cooperative pool, and returns its result to the awaiting task.
/// Sinks and sources with blocking transports use it too.
public func runBlocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await runOnDedicatedThread(body)
}

func runOnDedicatedThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            useUTF8Locale()
            continuation.resume(with: Result { try body() })
        }
        thread.stackSize = 4 << 20
        thread.start()
    }
}

/// Runs `body` on a dedicated thread; cancelling the awaiting task sets the flag `body` polls.
package func runCancellableOnDedicatedThread<T: Sendable>(_ body: @escaping @Sendable (CancellationFlag) throws -> T) async throws -> T {
    let flag = CancellationFlag()
    return try await withTaskCancellationHandler {
        try await runOnDedicatedThread { try body(flag) }
    } onCancel: {
        flag.set()
    }
}

/// libarchive converts names between UTF-8 and the current locale's character set; in the "C" locale
/// that cron and systemd give a process, it cannot convert non-ASCII names at all. Archive work runs on
/// threads that use C.UTF-8 (per thread, with `uselocale`), so the process's own locale is left alone.
func useUTF8Locale() {
    if let locale = utf8Locale.locale { uselocale(locale) }
}

private struct UTF8Locale: @unchecked Sendable {
    let locale: locale_t?
}

private let utf8Locale = UTF8Locale(locale: newlocale(LC_CTYPE_MASK, "C.UTF-8", nil) ?? newlocale(LC_CTYPE_MASK, "en_US.UTF-8", nil))
