"""The orchestration wing: `hoot shortlist` end to end, on one machine or scaled out."""
