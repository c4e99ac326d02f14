//! DeleteGroups (key 42): delete empty groups and their committed offsets.

use crate::wire::Array;
use crate::ErrorCode;

wire_struct! {
    /// DeleteGroups request (to each group's coordinator).
    pub struct DeleteGroupsRequest<'a> {
        /// The groups to delete.
        pub groups_names: Array<'a, &'a str> => 0..,
    }
}

wire_struct! {
    /// The result for one group.
    pub struct DeletableGroupResult<'a> {
        /// The group id.
        pub group_id: &'a str => 0..,
        /// The error, or 0 (`NON_EMPTY_GROUP` while it has members,
        /// `GROUP_ID_NOT_FOUND` for an unknown group).
        pub error_code: ErrorCode => 0..,
    }
}

wire_struct! {
    /// DeleteGroups response.
    pub struct DeleteGroupsResponse<'a> {
        /// Throttle time in milliseconds.
        pub throttle_time_ms: i32 => 0..,
        /// Each group's result.
        pub results: Array<'a, DeletableGroupResult<'a>> => 0..,
    }
}

crate::protocol::api!(DeleteGroups, versions 0..=2, flexible Some(2),
    DeleteGroupsRequest<'a> => DeleteGroupsResponse<'a>);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::messages::tests::{assert_golden, cat};

    #[test]
    fn request_v0_and_v2() {
        let expected = DeleteGroupsRequest {
            groups_names: Array::new(&["g1", "g2"]),
        };
        let v0 = cat(&[&[0, 0, 0, 2], &[0, 2], b"g1", &[0, 2], b"g2"]);
        assert_golden(&v0, 0, &expected);
        let v2 = cat(&[&[3], &[3], b"g1", &[3], b"g2", &[0]]);
        assert_golden(&v2, 2, &expected);
    }

    #[test]
    fn response_v2() {
        let bytes = cat(&[&[0, 0, 0, 0], &[2], &[2], b"g", &[0, 68], &[0], &[0]]);
        let results = [DeletableGroupResult {
            group_id: "g",
            error_code: ErrorCode::NON_EMPTY_GROUP,
        }];
        let expected = DeleteGroupsResponse {
            throttle_time_ms: 0,
            results: Array::new(&results),
        };
        assert_golden(&bytes, 2, &expected);
    }
}
