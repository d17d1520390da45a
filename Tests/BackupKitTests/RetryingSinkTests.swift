import BackupKit
import BackupSinks
import Foundation
import Synchronization
import Testing

/// The retrying wrapper over a sink whose failures are scripted. No test waits for real backoff.
@Suite struct RetryingSinkTests {
    static let transient = BackupError(.sinkFailed, "connection reset", kind: .transient)

    /// Wraps an in-memory sink; each operation first throws the errors scripted for it, in order. A get
    /// may write half the object before its scripted error.
    final class FlakySink: Sink {
        let base = InMemorySink(name: "flaky")
        private let failures = Mutex<[String: [BackupError]]>([:])
        private let calls = Mutex<[String: Int]>([:])
        let writeHalfBeforeFailing: Bool

        init(writeHalfBeforeFailing: Bool = false) { self.writeHalfBeforeFailing = writeHalfBeforeFailing }

        var name: String { base.name }
        var capabilities: SinkCapabilities { base.capabilities }

        func script(_ operation: String, _ errors: [BackupError]) { failures.withLock { $0[operation] = errors } }
        func calls(_ operation: String) -> Int { calls.withLock { $0[operation] ?? 0 } }

        private func next(_ operation: String) -> BackupError? {
            calls.withLock { $0[operation, default: 0] += 1 }
            return failures.withLock { $0[operation]?.isEmpty == false ? $0[operation]!.removeFirst() : nil }
        }

        func put(_ key: String, from file: StagedFile) async throws -> StoreReceipt {
            if let error = next("put") { throw error }
            return try await base.put(key, from: file)
        }

        func get(_ key: String, into output: ByteDestination) async throws {
            if let error = next("get") {
                if writeHalfBeforeFailing {
                    let (memory, bytes) = ByteDestination.memory()
                    try await base.get(key, into: memory)
                    try bytes().prefix(bytes().count / 2).withUnsafeBytes { try output.write($0) }
                }
                throw error
            }
            try await base.get(key, into: output)
        }

        func list() async throws -> [StoredObject] {
            if let error = next("list") { throw error }
            return try await base.list()
        }

        func delete(_ key: String) async throws {
            if let error = next("delete") { throw error }
            try await base.delete(key)
        }
    }

    let dir: TemporaryDirectory
    let file: StagedFile

    init() throws {
        dir = try TemporaryDirectory("retrying-sink")
        file = try StagedFile(writing: Array("0123456789".utf8), to: dir.sub("artifact"))
    }

    func retrying(_ flaky: FlakySink, attempts: Int = 4) -> RetryingSink {
        RetryingSink(flaky, policy: RetryPolicy(maxAttempts: attempts, sleeper: .instant()), logger: testLogger)
    }

    @Test func transientFailuresOfEveryOperationAreRetried() async throws {
        defer { dir.remove() }
        let flaky = FlakySink()
        let sink = retrying(flaky)
        for operation in ["put", "get", "list", "delete"] { flaky.script(operation, [Self.transient, Self.transient]) }
        try await sink.put("a.bin", from: file)
        #expect(try await sink.list().map(\.key) == ["a.bin"])
        let (output, bytes) = ByteDestination.memory()
        try await sink.get("a.bin", into: output)
        #expect(bytes() == Array("0123456789".utf8))
        try await sink.delete("a.bin")
        for operation in ["put", "get", "list", "delete"] { #expect(flaky.calls(operation) == 3, "\(operation)") }
        #expect(sink.name == "flaky" && sink.capabilities == flaky.capabilities)
    }

    @Test func permanentFailuresAreNotRetried() async throws {
        defer { dir.remove() }
        let flaky = FlakySink()
        let sink = retrying(flaky)
        flaky.script("put", [BackupError(.authenticationFailed, "key refused")])
        await #expect(throws: BackupError.self) { try await sink.put("a.bin", from: self.file) }
        await #expect(throws: BackupError.self) { try await sink.get("missing.bin", into: ByteDestination { _ in }) }
        #expect(flaky.calls("put") == 1 && flaky.calls("get") == 1)
    }

    @Test func itGivesUpAfterTheLastAttemptWithItsError() async throws {
        defer { dir.remove() }
        let flaky = FlakySink()
        let sink = retrying(flaky, attempts: 3)
        flaky.script("list", (1...5).map { BackupError(.sinkFailed, "reset \($0)", kind: .transient) })
        do {
            _ = try await sink.list()
            Issue.record("the list succeeded")
        } catch let error as BackupError {
            #expect(error.message == "reset 3" && error.kind == .transient)
        }
        #expect(flaky.calls("list") == 3)
    }

    @Test func aGetThatAlreadyWroteBytesIsNotRetried() async throws {
        defer { dir.remove() }
        let flaky = FlakySink(writeHalfBeforeFailing: true)
        let sink = retrying(flaky)
        try await flaky.base.put("a.bin", from: file)
        flaky.script("get", [Self.transient])
        let (output, bytes) = ByteDestination.memory()
        await #expect(throws: BackupError.self) { try await sink.get("a.bin", into: output) }
        #expect(flaky.calls("get") == 1, "not retried once bytes were written")
        #expect(bytes() == Array("01234".utf8), "the first half, once, not twice")
    }

    @Test func aDeleteWhoseAnswerWasLostCountsAsDone() async throws {
        defer { dir.remove() }
        let flaky = FlakySink()
        let sink = retrying(flaky)
        try await flaky.base.put("a.bin", from: file)
        // The first attempt deletes the key, then its answer is lost; the retry finds the key gone.
        flaky.script("delete", [Self.transient])
        try await flaky.base.delete("a.bin")
        try await sink.delete("a.bin")
        #expect(flaky.calls("delete") == 2)
        await #expect(throws: BackupError.self, "a key that was never there is still not found") { try await sink.delete("a.bin") }
    }
}
