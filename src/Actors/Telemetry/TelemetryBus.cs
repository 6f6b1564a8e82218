// The node's telemetry bus: map stream actors publish into a MergeHub, consumers subscribe to a BroadcastHub.
using Akka;
using Akka.Actor;
using Akka.Streams;
using Akka.Streams.Dsl;

namespace PacketScope.Actors.Telemetry;

public sealed class TelemetryBus
{
    /// <summary>
    /// Elements are chunks of 256 entries (about 55 KB for flows): 64 in flight is a few MB, enough
    /// to decouple the reader from the consumers without a read of a million flows piling up.
    /// </summary>
    private const int BufferSize = 64;

    public TelemetryBus(ActorSystem system)
    {
        Materializer = system.Materializer(namePrefix: "telemetry");
        (Sink, Source) = MergeHub.Source<ITelemetry>(perProducerBufferSize: 16)
            .ToMaterialized(BroadcastHub.Sink<ITelemetry>(bufferSize: BufferSize), Keep.Both)
            .Run(Materializer);
        // No consumer yet: the hub keeps what is published and backpressures, so the first
        // subscriber (the view, subscribing at start-up) misses nothing, not even the first attach.
        _publisher = Akka.Streams.Dsl.Source.ActorRef<ITelemetry>(1024, OverflowStrategy.DropHead)
            .To(Sink)
            .Run(Materializer);
    }

    private readonly IActorRef _publisher;

    /// <summary>Completes the bus's own publisher (at shutdown, after the producers have stopped).</summary>
    public void Complete() => _publisher.Tell(new Status.Success(Akka.Done.Instance));

    /// <summary>Publishes a small, self-contained message (state changes, stats readings); thread-safe.</summary>
    public void Publish(ITelemetry message) => _publisher.Tell(message);

    public IMaterializer Materializer { get; }

    /// <summary>Where producers send; each materialization is one producer.</summary>
    public Sink<ITelemetry, NotUsed> Sink { get; }

    /// <summary>Every subscriber sees every element published after it subscribed.</summary>
    public Source<ITelemetry, NotUsed> Source { get; }

    /// <summary>A producer queue with backpressure: await OfferAsync before producing more.</summary>
    public ISourceQueueWithComplete<ITelemetry> CreateProducer(int bufferSize = 16) =>
        Akka.Streams.Dsl.Source.Queue<ITelemetry>(bufferSize, OverflowStrategy.Backpressure)
            .To(Sink)
            .Run(Materializer);

    /// <summary>Delivers every element to <paramref name="actor"/> with backpressure (one at a time, acked).</summary>
    public void Subscribe(IActorRef actor, object ack, object onInit, object onComplete) =>
        Source.RunWith(
            Akka.Streams.Dsl.Sink.ActorRefWithAck<ITelemetry>(actor, onInit, ack, onComplete, ex => new Status.Failure(ex)),
            Materializer);
}
