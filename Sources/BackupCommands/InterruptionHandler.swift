import Dispatch
import Foundation
import Synchronization

/// Turns the first SIGTERM or SIGINT into a graceful stop and a second one into an immediate exit.
/// The signals' default action (ending the process at once) is held off while the handler is
/// installed, so that a run can still run its after_backup hooks, alert and record its state.
final class InterruptionHandler {
    private let sources: [any DispatchSourceSignal]

    /// How many signals arrived.
    private final class Count: Sendable {
        let value = Atomic<Int>(0)
    }

    /// Calls `onFirst` with the signal's name (`SIGTERM`) on the first signal; the second signal of
    /// either kind ends the process with that signal's default action.
    init(signals: [Int32], onFirst: @escaping @Sendable (String) -> Void) {
        let queue = DispatchQueue(label: "backupctl.signals")
        var sources: [any DispatchSourceSignal] = []
        for number in signals {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            sources.append(source)
        }
        self.sources = sources
        let received = Count()
        for (number, source) in zip(signals, sources) {
            source.setEventHandler {
                // Signals that arrive before the handler runs are merged into one event: count them all.
                let arrived = max(1, Int(source.data))
                let total = received.value.add(arrived, ordering: .relaxed).newValue
                if total - arrived == 0 {
                    onFirst(number == SIGTERM ? "SIGTERM" : number == SIGINT ? "SIGINT" : "signal \(number)")
                }
                if total > 1 {
                    // The signal's own default action, sent to the process (raise() would go to this
                    // queue's thread, where dispatch keeps signals blocked); if no thread takes it,
                    // exit with the shell's code for that signal.
                    signal(number, SIG_DFL)
                    kill(getpid(), number)
                    _exit(128 + number)
                }
            }
            source.resume()
        }
    }

    /// Restores the signals' default actions.
    func stop() {
        for source in sources { source.cancel() }
        signal(SIGTERM, SIG_DFL)
        signal(SIGINT, SIG_DFL)
    }
}

extension InterruptionHandler {
    /// Runs `work` in a task that the first SIGTERM or SIGINT cancels, after printing `announce(signal)`
    /// (what stopping means); a second signal ends the process at once. Returns how the work ended and
    /// the name of the signal that came (`SIGINT`), if one did.
    static func run<T: Sendable>(announce: @escaping @Sendable (String) -> String,
                                 _ work: @escaping @Sendable () async throws -> T) async -> (result: Result<T, any Error>, signal: String?) {
        let task = Task { try await work() }
        let received = SignalName()
        let handler = InterruptionHandler(signals: [SIGTERM, SIGINT]) { name in
            received.name.withLock { $0 = name }
            Terminal.error(announce(name))
            task.cancel()
        }
        let result = await task.result
        handler.stop()
        return (result, received.name.withLock { $0 })
    }

    /// The name of the first signal that came.
    private final class SignalName: Sendable {
        let name = Mutex<String?>(nil)
    }
}
