from loadgen.live.session import serving_replica


def test_the_last_address_of_a_retried_upstream_served_the_session():
    assert serving_replica("10.0.0.5:9090") == "10.0.0.5:9090"
    assert serving_replica("10.0.0.5:9090, 10.0.0.6:9090") == "10.0.0.6:9090"
    assert serving_replica(None) is None
    assert serving_replica("") is None


def test_an_announced_replica_name_wins_over_the_balancer_address():
    assert serving_replica("10.0.0.5:9090", "whisperlive-7d9f-abcde") == "whisperlive-7d9f-abcde"
    assert serving_replica("10.0.0.5:9090", " ") == "10.0.0.5:9090"
