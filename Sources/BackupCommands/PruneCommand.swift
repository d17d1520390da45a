import ArgumentParser
import BackupKit

struct PruneCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Apply the plan's retention to each sink. With --dry-run, show every set with the rule that keeps it or the reason it would go.",
        discussion: "The newest good set is never deleted. Exit codes: 0 done, 1 a sink could not be pruned, 5 a run holds the lock."
    )

    @OptionGroup var global: GlobalOptions

    @Flag(name: .long, help: "Show what would be kept and deleted, and delete nothing.")
    var dryRun = false

    @Option(name: .long, help: ArgumentHelp("Only this sink.", valueName: "NAME"))
    var sink: String?

    struct SinkDecisions: Encodable {
        var sink: String
        var decisions: [RetentionPlanner.Decision]
        var deleted: [SetTimestamp]
        var error: String?
    }

    func run() async throws {
        let plan: BackupPlan
        let selected: [any Sink]
        var lock: RunLock?
        do {
            plan = try global.loadPlan()
            selected = try plan.selectedSinks(sink)
            if !dryRun { lock = try RunLock.acquire(path: plan.lockPath, plan: plan.name) }
        } catch { throw fail(error) }
        defer { lock?.release() }
        let pruner = Pruner(plan: plan, logger: global.makeLogger())
        var results: [SinkDecisions] = []
        for sink in selected {
            let result = await pruner.prune(sink, dryRun: dryRun)
            results.append(SinkDecisions(sink: sink.name, decisions: result.decisions, deleted: result.outcome.deleted, error: result.outcome.error))
        }
        if global.json {
            Terminal.json(["sinks": results], schema: .prune)
        } else {
            for result in results {
                Terminal.out("sink '\(result.sink)'\(dryRun ? " (dry run)" : ""):")
                if let error = result.error { Terminal.out("  error: \(error)") }
                for decision in result.decisions {
                    let verb = decision.keep ? "keep  " : (dryRun ? "delete" : (result.deleted.contains(decision.timestamp) ? "deleted" : "delete"))
                    Terminal.out("  \(verb)  \(decision.timestamp)  \(decision.reasons.joined(separator: "; "))")
                }
                if result.decisions.isEmpty && result.error == nil { Terminal.out("  no sets") }
            }
        }
        if results.contains(where: { $0.error != nil }) { throw ExitCode(ExitCodes.failure) }
    }
}
