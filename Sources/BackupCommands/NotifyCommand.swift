import ArgumentParser
import BackupKit

struct NotifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "notify",
        abstract: "Check the plan's notifiers.",
        subcommands: [Test.self]
    )

    struct Test: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send a test alert through every configured notifier (whatever its event filter) and report each result.",
            discussion: "Exit codes: 0 every notifier delivered, 1 one or more failed, 2 plan error or no notifier configured."
        )

        @OptionGroup var global: GlobalOptions

        @Option(name: .long, help: ArgumentHelp("Only this notifier (repeatable).", valueName: "NAME"))
        var notifier: [String] = []

        func run() async throws {
            let plan: BackupPlan
            do {
                plan = try global.loadPlan()
                for name in notifier where !plan.notifiers.contains(where: { $0.name == name }) {
                    throw BackupError(.usage, "--notifier \(name): the plan has no notifier named '\(name)'")
                }
                if plan.notifiers.isEmpty {
                    throw BackupError(.usage, "the plan has no notifiers. Add a 'notify:' section, or set BACKUP_ALERT_WEBHOOK_URL / BACKUP_ALERT_EMAIL.")
                }
            } catch { throw fail(error) }
            let host = currentHostName()
            let alert = Alert(event: .test, plan: plan.name, host: host,
                              summary: "Test alert from backupctl for plan '\(plan.name)' on \(host): if you read this, the notifier works.")
            let selected = plan.notifiers.filter { notifier.isEmpty || notifier.contains($0.name) }
            let outcomes = await AlertDispatcher(notifiers: selected, logger: global.makeLogger()).send([alert])
            if global.json {
                Terminal.json(["notifications": outcomes], schema: .notify)
            } else {
                for outcome in outcomes {
                    Terminal.out("\(outcome.notifier): \(outcome.error.map { "FAILED: \($0)" } ?? "delivered")")
                }
            }
            if outcomes.contains(where: { $0.error != nil }) { throw ExitCode(ExitCodes.failure) }
        }
    }
}
