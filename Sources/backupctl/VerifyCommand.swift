import ArgumentParser
import BackupKit

struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Verify stored sets: every artifact present, read back completely, and matching its manifest's size and SHA-256.",
        discussion: "Exit codes: 0 every checked set passed, 3 an artifact failed (its name is printed), 9 no such set."
    )

    @OptionGroup var global: GlobalOptions

    @Flag(name: .long, help: "Verify the newest set (the default).")
    var latest = false

    @Option(name: .long, help: ArgumentHelp("Verify the set with this timestamp (YYYYMMDD_HHMMSS).", valueName: "TIMESTAMP"))
    var set: String?

    @Flag(name: .long, help: "Verify every set.")
    var all = false

    @Option(name: .long, help: ArgumentHelp("Only this sink; default: every sink.", valueName: "NAME"))
    var sink: String?

    func validate() throws {
        if [latest, set != nil, all].filter({ $0 }).count > 1 {
            throw ValidationError("give one of --latest, --set and --all")
        }
    }

    func run() async throws {
        let plan: BackupPlan
        let timestamp: SetTimestamp?
        do {
            plan = try global.loadPlan()
            timestamp = try set.map(parseTimestamp)
            if let sink, plan.sink(named: sink) == nil { throw BackupError(.usage, "--sink \(sink): the plan has no such sink") }
        } catch { throw fail(error) }
        let verifier = StoredSetVerifier(plan: plan, logger: global.makeLogger())
        var results: [StoredSetVerifier.Result] = []
        var errors: [BackupError] = []
        for sink in plan.sinks where self.sink == nil || sink.name == self.sink {
            do {
                var timestamps: [SetTimestamp?] = [timestamp]
                if all {
                    let catalog = try await SetCatalog.load(from: sink, plan: plan.name, sourceNames: Set(plan.sources.map(\.source.name)))
                    timestamps = catalog.sets.map(\.timestamp)
                }
                for timestamp in timestamps {
                    Terminal.progress("verifying \(timestamp.map { "set \($0)" } ?? "the newest set") in '\(sink.name)'")
                    results.append(try await verifier.verify(sink: sink, timestamp: timestamp))
                }
            } catch {
                errors.append((error as? BackupError) ?? BackupError(.sinkFailed, "sink '\(sink.name)': \(error)"))
            }
        }
        Terminal.clearProgress()
        if global.json {
            Terminal.json(results)
        } else {
            for result in results {
                Terminal.out("sink '\(result.sink)' set \(result.set): \(result.passed ? "OK" : "FAILED")\(result.problem.map { " (\($0))" } ?? "")")
                for artifact in result.artifacts {
                    let detail = artifact.passed ? "ok" + (artifact.entries.map { ", \($0) entries" } ?? "") : "FAILED: \(artifact.message ?? "")"
                    Terminal.out("  \(artifact.name)  \(formatBytes(artifact.size))  \(detail)")
                }
            }
        }
        for error in errors { Terminal.error("backupctl: \(error.message)") }
        if results.contains(where: { !$0.passed }) { throw ExitCode(ExitCodes.verificationFailed) }
        if let error = errors.first { throw ExitCode(ExitCodes.code(for: error.code)) }
    }
}
