/// Byte counters that blocking work updates and a progress reporter reads: the source's content bytes
/// read and the artifact's bytes written.
final class ProgressCounters: Sendable {
    let content = ByteCounter()
    let written = ByteCounter()
}
