from connectors.kafka.partitioning import murmur2, partition_for


def test_murmur2_matches_the_java_client() -> None:
    # Reference values from Kafka's own Utils.murmur2 test vectors.
    assert murmur2(b"21") == -973932308
    assert murmur2(b"foobar") == -790332482
    assert murmur2(b"a-little-bit-long-string") == -985981536
    assert murmur2(b"a-little-bit-longer-string") == -1486304829
    assert murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8") == -58897971
    assert murmur2(b"abc") == 479470107


def test_partition_is_in_range() -> None:
    for n in (1, 5, 10):
        for i in range(200):
            assert 0 <= partition_for(f'{{"citizen_id":{i}}}'.encode(), n) < n
