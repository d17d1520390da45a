import BackupKit
import BackupNotifiers
import BackupTransport
import Testing

/// The heartbeat's own rules through a scripted transport; OperationsTests fetches a real one.
@Suite struct HeartbeatNotifierTests {
    static let url = Secret.value("https://hc-ping.com/secret-uuid")

    func heartbeat(_ transport: ScriptedTransport) -> HeartbeatNotifier {
        HeartbeatNotifier(url: Self.url, retry: RetryPolicy(maxAttempts: 3, sleeper: .instant()), transport: transport)
    }

    @Test func onlySuccessesAreSentAndServerErrorsAreRetried() async throws {
        let transport = ScriptedTransport([.respond(503), .fail(ScriptedTransport.reset), .respond(200)])
        for event in [AlertEvent.failure, .degraded, .stale, .pruned] {
            try await heartbeat(transport).send(Alert(event: event, plan: "app", host: "h", summary: "not a success"))
        }
        #expect(transport.sent.isEmpty)
        try await heartbeat(transport).send(Alert(event: .succeeded, plan: "app", host: "h", summary: "ok"))
        #expect(transport.sent.map(\.method) == ["GET", "GET", "GET"] && transport.sent[0].request.timeout == 10)
    }

    @Test func failuresNameTheHostOnlyAndAreNotRetriedWhenPermanent() async throws {
        let transport = ScriptedTransport([.respond(404), .respond(200)])
        do {
            try await heartbeat(transport).send(Alert(event: .succeeded, plan: "app", host: "h", summary: "ok"))
            Issue.record("a 404 was accepted")
        } catch {
            #expect("\(error)" == "the heartbeat URL (https://hc-ping.com/…) answered HTTP 404", "\(error)")
        }
        #expect(transport.sent.count == 1)
        let down = ScriptedTransport(Array(repeating: .fail(BackupError(.io, "https://hc-ping.com/secret-uuid: refused", kind: .transient)), count: 3))
        do {
            try await heartbeat(down).send(Alert(event: .succeeded, plan: "app", host: "h", summary: "ok"))
            Issue.record("an unreachable heartbeat succeeded")
        } catch {
            #expect("\(error)".contains("could not be reached") && !"\(error)".contains("secret-uuid"), "\(error)")
        }
        #expect(down.sent.count == 3)
    }
}
