import BackupKit
import Synchronization
import Testing

/// The one retry rule: backoff, jitter, and which errors are retried. No test waits for real.
@Suite struct RetryPolicyTests {
    static let transient = BackupError(.sinkFailed, "HTTP 503", kind: .transient)
    static let permanent = BackupError(.authenticationFailed, "HTTP 403")

    /// Records the waits it was asked for.
    final class Waits: Sendable {
        let recorded = Mutex<[Duration]>([])
        var all: [Duration] { recorded.withLock { $0 } }
        var sleeper: RetryPolicy.Sleeper { .instant { wait in self.recorded.withLock { $0.append(wait) } } }
    }

    @Test func backoffDoublesFromTheInitialDelayUpToTheCap() {
        let policy = RetryPolicy(initialDelay: .milliseconds(500), maxDelay: .seconds(8))
        #expect((1...7).map { policy.baseDelay(after: $0) } == [.milliseconds(500), .seconds(1), .seconds(2), .seconds(4), .seconds(8), .seconds(8), .seconds(8)])
        #expect(policy.baseDelay(after: 60) == .seconds(8), "no overflow for late attempts")
    }

    @Test func jitterStaysWithinItsRangeAndVaries() {
        let policy = RetryPolicy(initialDelay: .seconds(1), jitter: 0.2)
        let delays = (0..<2000).map { _ in policy.delay(after: 2).seconds }
        #expect(delays.allSatisfy { (1.6...2.4).contains($0) }, "2 s ± 20%: \(delays.min()!)...\(delays.max()!)")
        #expect(delays.max()! - delays.min()! > 0.6, "the waits are spread over the range")
        #expect(RetryPolicy(initialDelay: .seconds(1), jitter: 0).delay(after: 3) == .seconds(4))
    }

    @Test func transientErrorsAreRetriedWithGrowingWaits() async throws {
        let waits = Waits()
        let policy = RetryPolicy(maxAttempts: 5, initialDelay: .seconds(1), jitter: 0.2, sleeper: waits.sleeper)
        var attempts: [Int] = []
        let result = try await policy.run("test") { attempt in
            attempts.append(attempt)
            if attempt < 3 { throw Self.transient }
            return "done"
        }
        #expect(result == "done" && attempts == [1, 2, 3])
        #expect(waits.all.count == 2)
        #expect((0.8...1.2).contains(waits.all[0].seconds) && (1.6...2.4).contains(waits.all[1].seconds), "\(waits.all)")
    }

    @Test(arguments: [RetryPolicyTests.permanent, BackupError(.notFound, "no such key"), BackupError(.io, "disk full")])
    func errorsThatAreNotTransientAreNotRetried(error: BackupError) async {
        let waits = Waits()
        let policy = RetryPolicy(maxAttempts: 5, sleeper: waits.sleeper)
        var attempts = 0
        await #expect(throws: BackupError.self) {
            try await policy.run("test") { _ in
                attempts += 1
                throw error
            }
        }
        #expect(attempts == 1 && waits.all.isEmpty)
        #expect(!RetryPolicy.isTransient(error) && RetryPolicy.isTransient(Self.transient) && !RetryPolicy.isTransient(CancellationError()))
    }

    @Test func itGivesUpAfterMaxAttemptsWithTheLastError() throws {
        let waits = Waits()
        let policy = RetryPolicy(maxAttempts: 4, sleeper: waits.sleeper)
        var attempts = 0
        do {
            try policy.runBlocking("test") { attempt in
                attempts = attempt
                throw BackupError(.sinkFailed, "failure \(attempt)", kind: .transient)
            }
            Issue.record("no error after four failures")
        } catch let error as BackupError {
            #expect(error.message == "failure 4" && error.kind == .transient)
        }
        #expect(attempts == 4 && waits.all.count == 3)
        #expect(RetryPolicy(maxAttempts: 0).maxAttempts == 1, "there is always one attempt")
    }

    @Test func blockingRetriesStopWhenCancelled() {
        let policy = RetryPolicy(maxAttempts: 5, sleeper: .instant())
        var attempts = 0
        #expect(throws: BackupError.self) {
            try policy.runBlocking("test", isCancelled: { attempts >= 2 }) { attempt in
                attempts = attempt
                throw Self.transient
            }
        }
        #expect(attempts == 2)
    }
}
