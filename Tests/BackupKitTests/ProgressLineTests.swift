import BackupCommands
import BackupKit
import Foundation
import Testing

/// The text of a phase's progress line: percent, bar, rate, time left, and fitting the terminal.
struct ProgressLineTests {
    static let start = Date(timeIntervalSince1970: 1_700_000_000)
    static let name = "db_schedgen_20241130_020000.sql.gz"

    static func progress(_ phase: PhaseProgress.Phase = .verify, done: Int64, total: Int64?, estimate: Bool = false,
                         state: PhaseProgress.State = .running) -> PhaseProgress {
        PhaseProgress(phase: phase, artifact: name, bytesDone: done, totalBytes: total, totalIsEstimate: estimate, startedAt: start, state: state)
    }

    @Test func aKnownTotalShowsTheBarPercentRateAndTimeLeft() {
        // 52 MiB of 100 MiB in 2 s: 26 MiB/s, 48 MiB left take 1.85 s, shown as 0:02.
        let line = ProgressLine.text(Self.progress(done: 52 << 20, total: 100 << 20), now: Self.start + 2, width: 200)
        #expect(line == "\(Self.name)  verify  [##########..........]  52%  26.0 MiB/s  ETA 0:02")
    }

    @Test func anUnknownTotalShowsBytesAndRateOnly() {
        let line = ProgressLine.text(Self.progress(.dump, done: 3 << 30, total: nil), now: Self.start + 10, width: 200)
        #expect(line == "\(Self.name)  dump  3.0 GiB  307.2 MiB/s")
    }

    @Test func anEstimatedTotalIsMarkedAndNeverLooksDoneWhileRunning() {
        let halfway = ProgressLine.text(Self.progress(.dump, done: 50, total: 100, estimate: true), now: Self.start + 5, width: 200)
        #expect(halfway.hasSuffix("dump  [##########..........]  ~50%  10 B/s  ETA ~0:05"), "\(halfway)")
        // The dump outgrew the database's size: 99%, not 100% or 150%.
        let past = Self.progress(.dump, done: 150, total: 100, estimate: true)
        #expect(ProgressLine.fraction(past) == 0.99)
        #expect(ProgressLine.text(past, now: Self.start + 5, width: 200).contains("  ~99%  "))
        var finished = past
        finished.state = .finished
        #expect(ProgressLine.fraction(finished) == 1)
    }

    @Test func percentIsRoundedDownSoOnlyDoneIsAHundred() {
        #expect(ProgressLine.percent(0) == "0%")
        #expect(ProgressLine.percent(0.526) == "52%")
        #expect(ProgressLine.percent(0.999) == "99%")
        #expect(ProgressLine.percent(1) == "100%")
        // A sink that read a part twice (a retried upload) is done, not more.
        #expect(ProgressLine.fraction(Self.progress(.upload(sink: "offsite"), done: 130, total: 100)) == 1)
        #expect(ProgressLine.fraction(Self.progress(done: 0, total: 0)) == nil)
    }

    @Test func theBarFillsInProportion() {
        #expect(ProgressLine.bar(0, width: 10) == "[..........]")
        #expect(ProgressLine.bar(0.55, width: 10) == "[#####.....]")
        #expect(ProgressLine.bar(1, width: 10) == "[##########]")
        #expect(ProgressLine.bar(1.7, width: 4) == "[####]")
    }

    @Test func rateAndTimeLeft() {
        #expect(ProgressLine.rate(bytes: 0, seconds: 3) == "0 B/s")
        #expect(ProgressLine.rate(bytes: 5 << 20, seconds: 0) == "0 B/s")
        #expect(ProgressLine.rate(bytes: 120 << 20, seconds: 1) == "120.0 MiB/s")
        #expect(ProgressLine.duration(0) == "0:00")
        #expect(ProgressLine.duration(4.2) == "0:05")
        #expect(ProgressLine.duration(754) == "12:34")
        #expect(ProgressLine.duration(3723) == "1:02:03")
        // Nothing done yet: no rate to tell the time left by.
        #expect(ProgressLine.eta(Self.progress(done: 0, total: 100), seconds: 5) == nil)
        #expect(ProgressLine.text(Self.progress(done: 0, total: 100), now: Self.start, width: 200).hasSuffix("0%  0 B/s  ETA --:--"))
        #expect(ProgressLine.eta(Self.progress(done: 25, total: 100), seconds: 10) == "0:30")
    }

    @Test(arguments: [200, 80, 60, 40, 20])
    func aLineNeverOutgrowsTheTerminal(width: Int) {
        for progress in [Self.progress(done: 52 << 20, total: 100 << 20), Self.progress(.upload(sink: "offsite-archive"), done: 7, total: nil)] {
            let line = ProgressLine.text(progress, now: Self.start + 3, width: width)
            #expect(line.count <= width, "\(line.count) > \(width): \(line)")
            #expect(ProgressLine.summary(progress, now: Self.start + 3, width: width).count <= width)
        }
        // At 80 columns the name gives way before the bar does.
        let line = ProgressLine.text(Self.progress(done: 52 << 20, total: 100 << 20), now: Self.start + 2, width: 80)
        #expect(line.contains("[##########..........]") && line.contains("…"), "\(line)")
    }

    @Test func aLongNameIsShortenedInTheMiddle() {
        #expect(ProgressLine.shortened("abcdefghijklmnopqrstuvwxyz", to: 11) == "abcde…vwxyz")
        #expect(ProgressLine.shortened("short", to: 11) == "short")
    }

    @Test func aFinishedPhaseSaysWhatItDidInHowLong() {
        let done = Self.progress(.upload(sink: "offsite"), done: 300 << 20, total: 300 << 20, state: .finished)
        #expect(ProgressLine.summary(done, now: Self.start + 12, width: 200) == "\(Self.name)  upload offsite  done  300.0 MiB in 12s  25.0 MiB/s")
        // A hard link into a local sink takes no time; a rate would mean nothing.
        #expect(ProgressLine.summary(done, now: Self.start + 0.01, width: 200) == "\(Self.name)  upload offsite  done  300.0 MiB in 0.0s")
    }

    @Test func phaseLabels() {
        #expect([PhaseProgress.Phase.dump, .archive, .verify, .upload(sink: "s3"), .download(sink: "nas"), .restore].map(ProgressLine.label)
                == ["dump", "archive", "verify", "upload s3", "download nas", "restore"])
    }
}
