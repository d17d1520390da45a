import Foundation
import Synchronization

/// Synchronous work started on a thread of its own, for a caller that has its own work to do meanwhile
/// and then waits for the result: ``value()`` returns what `body` returned or throws what it threw.
/// Whatever `body` touches must not be touched by the caller until ``value()`` returns.
package final class BackgroundWork<Value>: @unchecked Sendable {
    private var result: Result<Value, any Error>?
    private let finished = DispatchSemaphore(value: 0)
    private let claimed = Mutex(false)

    package init(_ body: @escaping () throws -> Value) {
        nonisolated(unsafe) let body = body
        Thread.detachNewThread { [self] in
            result = Result { try body() }
            finished.signal()
        }
    }

    /// Waits for the work to end. Call it once.
    package func value() throws -> Value {
        precondition(!claimed.withLock { let was = $0; $0 = true; return was }, "BackgroundWork.value() called twice")
        finished.wait()
        return try result!.get()
    }
}
