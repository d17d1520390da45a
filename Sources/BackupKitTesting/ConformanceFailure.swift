/// A conformance check that failed, with what was expected.
public struct ConformanceFailure: Error, CustomStringConvertible {
    public var check: ConformanceCheck
    public var message: String

    public init(check: ConformanceCheck, message: String) {
        self.check = check
        self.message = message
    }

    public var description: String { "conformance check '\(check)' failed: \(message)" }
}

/// Throws a ``ConformanceFailure`` for `check` unless `condition` holds.
func expect(_ condition: Bool, _ check: ConformanceCheck, _ message: @autoclosure () -> String) throws {
    if !condition { throw ConformanceFailure(check: check, message: message()) }
}
