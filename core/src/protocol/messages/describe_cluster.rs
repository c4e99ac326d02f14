//! DescribeCluster (key 60): the cluster id, controller and brokers (the
//! admin view of Metadata's broker list, KIP-700).

use crate::wire::Array;
use crate::ErrorCode;

wire_struct! {
    /// DescribeCluster request.
    pub struct DescribeClusterRequest {
        /// Whether to include the cluster's authorized operations.
        pub include_cluster_authorized_operations: bool => 0..,
        /// The endpoints to describe (v1+): 1 brokers, 2 controllers.
        pub endpoint_type: i8 = 1 => 1..,
    }
}

wire_struct! {
    /// One broker.
    pub struct DescribeClusterBroker<'a> {
        /// The broker id.
        pub broker_id: i32 => 0..,
        /// The broker host name.
        pub host: &'a str => 0..,
        /// The broker port.
        pub port: i32 => 0..,
        /// The broker's rack, or null.
        pub rack: Option<&'a str> => 0..,
    }
}

wire_struct! {
    /// DescribeCluster response.
    pub struct DescribeClusterResponse<'a> {
        /// Throttle time in milliseconds.
        pub throttle_time_ms: i32 => 0..,
        /// The top-level error, or 0.
        pub error_code: ErrorCode => 0..,
        /// The top-level error message, or null.
        pub error_message: Option<&'a str> => 0..,
        /// The endpoint type described (v1+): 1 brokers, 2 controllers.
        pub endpoint_type: i8 = 1 => 1..,
        /// The cluster id.
        pub cluster_id: &'a str => 0..,
        /// The controller's broker id (-1 unknown).
        pub controller_id: i32 = -1 => 0..,
        /// Each broker.
        pub brokers: Array<'a, DescribeClusterBroker<'a>> => 0..,
        /// The cluster's authorized operations as a bit field
        /// (`i32::MIN`: not asked).
        pub cluster_authorized_operations: i32 = i32::MIN => 0..,
    }
}

crate::protocol::api!(DescribeCluster, versions 0..=1, flexible Some(0),
    DescribeClusterRequest => DescribeClusterResponse<'a>);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::messages::tests::{assert_golden, cat};

    #[test]
    fn request_v0_and_v1() {
        assert_golden(&[0, 0], 0, &DescribeClusterRequest::default());
        assert_golden(
            &[1, 2, 0],
            1,
            &DescribeClusterRequest {
                include_cluster_authorized_operations: true,
                endpoint_type: 2,
            },
        );
    }

    #[test]
    fn response_v1() {
        #[rustfmt::skip]
        let bytes = cat(&[
            &[0, 0, 0, 0],              // throttle_time_ms
            &[0, 0],                    // error_code
            &[0],                       // error_message: null
            &[1],                       // endpoint_type: brokers
            &[4], b"abc",               // cluster_id
            &[0, 0, 0, 1],              // controller_id
            &[2],                       // brokers: 1
            &[0, 0, 0, 1], &[10], b"127.0.0.1", &[0, 0, 0x23, 0x84], &[0], &[0],
            &[0x80, 0, 0, 0],           // cluster_authorized_operations
            &[0],                       // tagged fields
        ]);
        let brokers = [DescribeClusterBroker {
            broker_id: 1,
            host: "127.0.0.1",
            port: 9092,
            rack: None,
        }];
        let expected = DescribeClusterResponse {
            cluster_id: "abc",
            controller_id: 1,
            brokers: Array::new(&brokers),
            ..Default::default()
        };
        assert_golden(&bytes, 1, &expected);
    }
}
