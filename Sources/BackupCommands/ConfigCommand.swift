import ArgumentParser
import BackupKit

struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Check or print the plan.",
        subcommands: [Check.self, Print.self]
    )

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Load and validate the plan; report the first error with its file, line and key. Exit 0 when valid, 2 when not.",
            discussion: """
                A valid plan is summarized, then each setting is listed with where it came from: the plan file \
                and its line (with the variables it reads, and whether from NAME or NAME_FILE), an environment \
                variable, or the default. BACKUP_ALERT_WEBHOOK_URL and BACKUP_ALERT_EMAIL add notifiers to a \
                plan file's own unless the plan reads them itself or says `notify: { env: false }`.
                """
        )

        @OptionGroup var global: GlobalOptions

        struct Summary: Encodable {
            var plan: String
            var origin: String
            var sources: [String]
            var sinks: [String]
            var notifiers: [String]
            var settings: [SettingOrigin]
            var valid: Bool
        }

        func run() async throws {
            do {
                let plan = try global.loadPlan()
                let settings = try global.loader().settingOrigins(file: global.planFile)
                let summary = Summary(plan: plan.name, origin: plan.origin, sources: plan.sources.map { "\($0.source.name) (\($0.source.type))" },
                                      sinks: plan.sinks.map(\.name), notifiers: plan.notifiers.map(\.name), settings: settings, valid: true)
                if global.json {
                    Terminal.json(summary, schema: .configCheck)
                } else {
                    Terminal.out("plan '\(plan.name)' from \(plan.origin) is valid")
                    Terminal.out("  sources: \(summary.sources.joined(separator: ", "))")
                    Terminal.out("  sinks: \(summary.sinks.joined(separator: ", "))")
                    Terminal.out("  notifiers: \(summary.notifiers.isEmpty ? "none" : summary.notifiers.joined(separator: ", "))")
                    Terminal.out("where each setting comes from:")
                    let width = settings.map(\.setting.count).max() ?? 0
                    for origin in settings {
                        let kind = origin.kind == .plan ? "plan file" : origin.kind.rawValue
                        Terminal.out("  \(origin.setting.padding(toLength: width, withPad: " ", startingAt: 0))  \(kind): \(origin.detail)")
                    }
                }
            } catch {
                throw fail(error)
            }
        }
    }

    struct Print: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the effective plan as YAML (or JSON with --json): variables interpolated, defaults filled in, secrets masked, always in the same order."
        )

        @OptionGroup var global: GlobalOptions

        func run() async throws {
            do {
                if global.json {
                    Terminal.json(["plan": try global.loader().effectiveJSON(file: global.planFile)], schema: .configPrint)
                } else {
                    Terminal.out(try global.loader().effectiveYAML(file: global.planFile))
                }
            } catch {
                throw fail(error)
            }
        }
    }
}
