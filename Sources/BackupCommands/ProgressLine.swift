import BackupKit
import Foundation

/// How a phase's progress reads on one terminal line:
///
///     db_schedgen_20241130_020000.sql.gz  verify  [##########..........]  52%  120.3 MiB/s  ETA 0:04
///
/// The bar, the percent and the time left show only when the total is known, marked `~` when the total
/// is the source's estimate (a dump's); the rate always shows. The rate is the phase's average since it
/// started. Pure functions of their arguments, so they are tested alone.
package enum ProgressLine {
    /// The bar's width in characters, between the brackets, when the line has room.
    package static let barWidth = 20

    /// A running phase as a line of at most `width` characters.
    package static func text(_ progress: PhaseProgress, now: Date, width: Int) -> String {
        let seconds = now.timeIntervalSince(progress.startedAt)
        let rate = rate(bytes: progress.bytesDone, seconds: seconds)
        guard let fraction = fraction(progress) else {
            return fitted(progress.artifact, [label(progress.phase), formatBytes(progress.bytesDone), rate], width: width)
        }
        let mark = progress.totalIsEstimate ? "~" : ""
        let left = eta(progress, seconds: seconds).map { "ETA \(mark)\($0)" } ?? "ETA --:--"
        let percent = mark + percent(fraction)
        // A narrow terminal gets a shorter name first (down to 20 characters), then a shorter bar, then none.
        let choices = [barWidth, barWidth / 2, 0].map { width in
            [label(progress.phase)] + (width > 0 ? [bar(fraction, width: width)] : []) + [percent, rate, left]
        }
        let fields = choices.first { fitted("", $0, width: .max).count + min(progress.artifact.count, 20) <= width } ?? choices[2]
        return fitted(progress.artifact, fields, width: width)
    }

    /// The line a finished phase leaves: what it handled, in how long, how fast (not for a phase that
    /// took less than a tenth of a second, such as a hard link into a local sink: its rate means nothing).
    package static func summary(_ progress: PhaseProgress, now: Date, width: Int) -> String {
        let seconds = max(0, now.timeIntervalSince(progress.startedAt))
        let fields = [label(progress.phase), "done", "\(formatBytes(progress.bytesDone)) in \(formatDuration(seconds))"]
        return fitted(progress.artifact, fields + (seconds < 0.1 ? [] : [rate(bytes: progress.bytesDone, seconds: seconds)]), width: width)
    }

    /// The phase's name on the line: `dump`, `archive`, `verify`, `upload offsite`, `download offsite`,
    /// `restore`.
    package static func label(_ phase: PhaseProgress.Phase) -> String {
        switch phase {
        case .dump: "dump"
        case .archive: "archive"
        case .verify: "verify"
        case .upload(let sink): "upload \(sink)"
        case .download(let sink): "download \(sink)"
        case .restore: "restore"
        }
    }

    /// The share done, from 0 to 1, or nil without a total. Past an estimate, a running phase stays
    /// short of done (99%); a sink reading a part again never makes it more than done.
    package static func fraction(_ progress: PhaseProgress) -> Double? {
        guard let total = progress.totalBytes, total > 0 else { return nil }
        let share = Double(progress.bytesDone) / Double(total)
        return min(max(share, 0), progress.totalIsEstimate && progress.state == .running ? 0.99 : 1)
    }

    /// `52%`: rounded down, so 100% means done.
    package static func percent(_ fraction: Double) -> String {
        "\(Int((fraction * 100).rounded(.down)))%"
    }

    /// `[##########..........]`: `width` characters between the brackets, filled in proportion.
    package static func bar(_ fraction: Double, width: Int) -> String {
        let filled = min(width, max(0, Int((fraction * Double(width)).rounded(.down))))
        return "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "]"
    }

    /// `120.3 MiB/s`: the average rate over `seconds`.
    package static func rate(bytes: Int64, seconds: Double) -> String {
        guard seconds > 0, bytes > 0 else { return "0 B/s" }
        return formatBytes(Int64((Double(bytes) / seconds).rounded())) + "/s"
    }

    /// The time left at the average rate so far, as ``duration(_:)``; nil without a total or before any
    /// byte was handled.
    package static func eta(_ progress: PhaseProgress, seconds: Double) -> String? {
        guard let total = progress.totalBytes, progress.bytesDone > 0, seconds > 0 else { return nil }
        let rate = Double(progress.bytesDone) / seconds
        return duration(Double(max(0, total - progress.bytesDone)) / rate)
    }

    /// `0:04`, `12:34`, `1:02:03`: minutes and seconds, with hours when there are any.
    package static func duration(_ seconds: Double) -> String {
        let total = Int(seconds.rounded(.up))
        let (hours, minutes, rest) = (total / 3600, total % 3600 / 60, total % 60)
        let twoDigits = { (value: Int) in value < 10 ? "0\(value)" : "\(value)" }
        return hours > 0 ? "\(hours):\(twoDigits(minutes)):\(twoDigits(rest))" : "\(minutes):\(twoDigits(rest))"
    }

    /// `name` and `fields` two spaces apart, in at most `width` characters: the name is shortened in
    /// the middle first (`db_sched…0000.sql.gz`, down to 12 characters), then the line's end is cut
    /// (ending with `…`).
    package static func fitted(_ name: String, _ fields: [String], width: Int) -> String {
        let rest = fields.map { "  " + $0 }.joined()
        var line = name + rest
        if line.count > width {
            let room = max(12, width - rest.count)
            line = shortened(name, to: room) + rest
        }
        if line.count > width { line = String(line.prefix(max(0, width - 1))) + "…" }
        return line
    }

    /// `name` in at most `count` characters, its middle replaced by `…`.
    package static func shortened(_ name: String, to count: Int) -> String {
        guard name.count > count, count > 1 else { return name }
        let head = (count - 1) / 2
        return String(name.prefix(head)) + "…" + String(name.suffix(count - 1 - head))
    }
}
