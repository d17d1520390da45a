import Foundation
import Logging

/// How an operation that failed transiently is tried again: how many attempts in all, and how long to
/// wait between them (exponential backoff with jitter). The one retry rule of the S3 client, the SFTP
/// sink (through ``RetryingSink``), the webhook and SMTP notifiers and the heartbeat.
///
/// Only errors for which ``isRetryable`` says yes are retried: by default a ``BackupError`` of kind
/// ``BackupError/Kind/transient`` (timeouts, resets, 429 and 5xx answers). Anything else, and the last
/// transient error once the attempts are used up, is thrown as it is. Each retry is logged.
///
/// The wait between attempts `n` and `n + 1` is `initialDelay · 2^(n-1)`, capped at `maxDelay`, then
/// multiplied by a random factor in `1 ± jitter` so that many clients do not retry in step. Waiting
/// goes through ``sleeper``; tests pass ``Sleeper/instant(_:)`` and never wait for real.
public struct RetryPolicy: Sendable {
    /// Attempts in all, the first one included; 1 means no retries.
    public var maxAttempts: Int
    /// The wait after the first failed attempt, before jitter.
    public var initialDelay: Duration
    /// The longest wait, before jitter.
    public var maxDelay: Duration
    /// The fraction the wait varies by either way: 0.2 gives 80% to 120% of the computed wait.
    public var jitter: Double
    /// Whether an error is worth another attempt.
    public var isRetryable: @Sendable (any Error) -> Bool
    public var sleeper: Sleeper

    public init(maxAttempts: Int = 5, initialDelay: Duration = .milliseconds(500), maxDelay: Duration = .seconds(8), jitter: Double = 0.2,
                isRetryable: @escaping @Sendable (any Error) -> Bool = RetryPolicy.isTransient, sleeper: Sleeper = .real) {
        self.maxAttempts = max(1, maxAttempts)
        self.initialDelay = initialDelay
        self.maxDelay = maxDelay
        self.jitter = min(max(jitter, 0), 1)
        self.isRetryable = isRetryable
        self.sleeper = sleeper
    }

    /// A ``BackupError`` of kind ``BackupError/Kind/transient``; nothing else.
    public static func isTransient(_ error: any Error) -> Bool {
        (error as? BackupError)?.kind == .transient
    }

    /// Waits between attempts. ``real`` sleeps; ``instant(_:)`` returns at once, for tests.
    public struct Sleeper: Sendable {
        let wait: @Sendable (Duration) async throws -> Void
        let waitBlocking: @Sendable (Duration) -> Void

        /// Sleeps for real: `Task.sleep` in async code (so cancellation ends the wait), the thread's
        /// sleep in blocking code.
        public static let real = Sleeper(
            wait: { try await Task.sleep(for: $0) },
            waitBlocking: { Thread.sleep(forTimeInterval: $0.seconds) }
        )

        /// Returns at once, handing each wait it was asked for to `record`.
        public static func instant(_ record: @escaping @Sendable (Duration) -> Void = { _ in }) -> Sleeper {
            Sleeper(wait: { record($0) }, waitBlocking: { record($0) })
        }
    }

    /// The wait after `attempt` failed, before jitter: `initialDelay · 2^(attempt-1)`, at most `maxDelay`.
    public func baseDelay(after attempt: Int) -> Duration {
        let seconds = initialDelay.seconds * pow(2, Double(max(attempt, 1) - 1))
        return .seconds(min(seconds, maxDelay.seconds))
    }

    /// The wait after `attempt` failed: ``baseDelay(after:)`` times a random factor in `1 ± jitter`.
    public func delay<Generator: RandomNumberGenerator>(after attempt: Int, using generator: inout Generator) -> Duration {
        let factor = jitter > 0 ? Double.random(in: (1 - jitter)...(1 + jitter), using: &generator) : 1
        return .seconds(baseDelay(after: attempt).seconds * factor)
    }

    public func delay(after attempt: Int) -> Duration {
        var generator = SystemRandomNumberGenerator()
        return delay(after: attempt, using: &generator)
    }

    /// Runs `operation` (given the attempt number, from 1) until it succeeds, fails with an error that is
    /// not retryable, or has failed `maxAttempts` times; then throws its last error. Task cancellation
    /// stops the retries. `what` names the operation in the log, such as `uploading db.sql.gz`.
    public func run<T>(_ what: String, logger: Logger? = nil, _ operation: (_ attempt: Int) async throws -> T) async throws -> T {
        var attempt = 1
        while true {
            do {
                return try await operation(attempt)
            } catch where shouldRetry(error, after: attempt, cancelled: Task.isCancelled) {
                let delay = delay(after: attempt)
                log(what, attempt: attempt, delay: delay, error: error, logger: logger)
                try await sleeper.wait(delay)
                attempt += 1
            }
        }
    }

    /// ``run(_:logger:_:)`` for blocking code on a dedicated thread (the S3 client, libcurl transfers):
    /// waits by blocking the thread. `isCancelled` stops the retries.
    public func runBlocking<T>(_ what: String, logger: Logger? = nil, isCancelled: () -> Bool = { false },
                               _ operation: (_ attempt: Int) throws -> T) throws -> T {
        var attempt = 1
        while true {
            do {
                return try operation(attempt)
            } catch where shouldRetry(error, after: attempt, cancelled: isCancelled()) {
                let delay = delay(after: attempt)
                log(what, attempt: attempt, delay: delay, error: error, logger: logger)
                sleeper.waitBlocking(delay)
                attempt += 1
            }
        }
    }

    func shouldRetry(_ error: any Error, after attempt: Int, cancelled: Bool) -> Bool {
        attempt < maxAttempts && !cancelled && isRetryable(error)
    }

    func log(_ what: String, attempt: Int, delay: Duration, error: any Error, logger: Logger?) {
        logger?.notice("retrying after a transient failure", metadata: [
            "what": "\(what)", "attempt": "\(attempt)", "of": "\(maxAttempts)",
            "delay_seconds": "\((delay.seconds * 100).rounded() / 100)", "error": "\(error)",
        ])
    }
}

extension Duration {
    /// The duration in seconds, with its fraction.
    package var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
