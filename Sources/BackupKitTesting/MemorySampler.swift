import Foundation
import Synchronization

/// Samples this process's resident memory every few milliseconds on a thread of its own, and reports
/// the largest growth over the value when sampling started.
final class MemorySampler: Sendable {
    private let state = Mutex<(baseline: Int64, peak: Int64, running: Bool)>((0, 0, false))

    func start() {
        let baseline = Self.residentBytes()
        state.withLock { $0 = (baseline, baseline, true) }
        Thread.detachNewThread { [self] in
            while state.withLock({ $0.running }) {
                let now = Self.residentBytes()
                state.withLock { $0.peak = max($0.peak, now) }
                usleep(5_000)
            }
        }
    }

    /// Stops sampling; returns the peak growth in bytes.
    func stop() -> Int64 {
        let now = Self.residentBytes()
        return state.withLock {
            $0.running = false
            return max($0.peak, now) - $0.baseline
        }
    }

    /// VmRSS from /proc/self/status.
    static func residentBytes() -> Int64 {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return 0 }
        let kilobytes = line.split(separator: " ").compactMap { Int64($0) }.first ?? 0
        return kilobytes * 1024
    }
}
