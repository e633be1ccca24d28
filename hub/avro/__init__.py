"""Avro, in one place: the wire format, the schema catalog, compiled encoders and decoders,
the batch scan, and the varints all of them read and write.

``wire`` frames records (Confluent's magic byte and schema id) and is the codec every stage
uses; fastavro decides validity there. ``encoder`` and ``decoder`` are generated per schema for
speed and give fastavro's bytes and values; ``scan`` reads fields across a whole batch at once.
"""
