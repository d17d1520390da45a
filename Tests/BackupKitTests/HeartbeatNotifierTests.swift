import BackupKit
import BackupNotifiers
import BackupTransport
import Testing

/// The heartbeat's own rules through a scripted transport; OperationsTests fetches a real one.
@Suite struct HeartbeatNotifierTests {
    static let url = Secret.value("https://hc-ping.com/secret-uuid")

    func heartbeat(_ transport: ScriptedTransport, pings: HeartbeatPings = HeartbeatPings()) -> HeartbeatNotifier {
        HeartbeatNotifier(url: Self.url, pings: pings, retry: RetryPolicy(maxAttempts: 3, sleeper: .instant()), transport: transport)
    }

    @Test func aRunsStartAndEndArePingedAndServerErrorsAreRetried() async throws {
        let transport = ScriptedTransport([.respond(503), .fail(ScriptedTransport.reset), .respond(200)] + Array(repeating: .respond(200), count: 6))
        for event in [AlertEvent.stale, .pruned, .test] {
            try await heartbeat(transport).send(Alert(event: event, plan: "app", host: "h", summary: "not a run's start or end"))
        }
        #expect(transport.sent.isEmpty)
        try await heartbeat(transport).send(Alert(event: .succeeded, plan: "app", host: "h", summary: "ok"))
        #expect(transport.sent.map(\.method) == ["GET", "GET", "GET"] && transport.sent[0].request.timeout == 10)
        for event in [AlertEvent.started, .failure, .verificationFailure, .missingCredentials, .diskSpace, .degraded] {
            try await heartbeat(transport).send(Alert(event: event, plan: "app", host: "h", summary: "\(event)"))
        }
        #expect(transport.sent.dropFirst(3).map(\.request.url) == ["https://hc-ping.com/secret-uuid/start"] + Array(repeating: "https://hc-ping.com/secret-uuid/fail", count: 5))
    }

    @Test func failurePingsCanCarryTheExitCodeOrBeOff() async throws {
        let transport = ScriptedTransport(Array(repeating: .respond(200), count: 4))
        let exitCodes = HeartbeatPings(start: false, failure: .exitCode)
        try await heartbeat(transport, pings: exitCodes).send(Alert(event: .started, plan: "app", host: "h", summary: "start"))
        try await heartbeat(transport, pings: exitCodes).send(Alert(event: .degraded, plan: "app", host: "h", summary: "d",
                                                                    error: ReportedError(code: .sinkFailed, message: "offsite")))
        try await heartbeat(transport, pings: exitCodes).send(Alert(event: .verificationFailure, plan: "app", host: "h", summary: "v",
                                                                    error: ReportedError(code: .verificationFailed, message: "bad")))
        try await heartbeat(transport, pings: exitCodes).send(Alert(event: .failure, plan: "app", host: "h", summary: "f",
                                                                    error: ReportedError(code: .hookFailed, message: "hook")))
        #expect(transport.sent.map(\.request.url) == ["/4", "/3", "/14"].map { "https://hc-ping.com/secret-uuid" + $0 })
        let quiet = ScriptedTransport([.respond(200)])
        try await heartbeat(quiet, pings: HeartbeatPings(success: false, failure: .off)).send(Alert(event: .failure, plan: "app", host: "h", summary: "f"))
        try await heartbeat(quiet, pings: HeartbeatPings(success: false, failure: .off)).send(Alert(event: .succeeded, plan: "app", host: "h", summary: "ok"))
        #expect(quiet.sent.isEmpty)
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
