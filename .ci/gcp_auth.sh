# shellcheck shell=sh
# Google Cloud credentials for the cluster and deploy jobs. Source it, do not
# run it, so the variables it exports reach the commands after it:
#
#   . .ci/gcp_auth.sh
#
# Two ways in, tried in this order:
#   1. Workload Identity Federation (no long-lived key): the job's GitLab ID
#      token (`id_tokens: GCP_ID_TOKEN` in .gitlab-ci.yml) is exchanged by
#      Google's STS for a short-lived token of GCP_SERVICE_ACCOUNT. Needs
#      GCP_ID_TOKEN, GCP_WORKLOAD_IDENTITY_PROVIDER
#      (projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER)
#      and GCP_SERVICE_ACCOUNT (name@project.iam.gserviceaccount.com).
#   2. A service-account key: GCP_SERVICE_ACCOUNT_KEY, a GitLab variable of
#      type File (so it holds the path of the key file), or the key's JSON.
# Either way it writes an Application Default Credentials file and points
# GOOGLE_APPLICATION_CREDENTIALS (read by kops and the Google client
# libraries) and CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE (read by gcloud, if
# the image has it) at it. Nothing secret is printed.
#
# With DRY_RUN=1 and neither set, it says so and succeeds, so dry runs need
# no credentials. It returns non-zero (failing the job) when nothing usable
# is set. It does not change the caller's shell options.

gcp_auth() {
    gcp_auth_dir=${GCP_AUTH_DIR:-${TMPDIR:-/tmp}/gcp-auth-${CI_JOB_ID:-$$}}

    if [ -n "${GCP_ID_TOKEN:-}" ] && [ -n "${GCP_WORKLOAD_IDENTITY_PROVIDER:-}" ]; then
        if [ -z "${GCP_SERVICE_ACCOUNT:-}" ]; then
            echo "gcp_auth: GCP_WORKLOAD_IDENTITY_PROVIDER is set but GCP_SERVICE_ACCOUNT is not" >&2
            return 1
        fi
        (umask 077 && mkdir -p "$gcp_auth_dir") || return 1
        # The token file is read again whenever the access token is renewed.
        (umask 077 && printf '%s' "$GCP_ID_TOKEN" >"$gcp_auth_dir/gitlab-id-token.jwt") || return 1
        gcp_auth_file=$gcp_auth_dir/credentials.json
        (
            umask 077
            cat >"$gcp_auth_file" <<EOF
{
  "type": "external_account",
  "audience": "//iam.googleapis.com/${GCP_WORKLOAD_IDENTITY_PROVIDER}",
  "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
  "token_url": "https://sts.googleapis.com/v1/token",
  "service_account_impersonation_url": "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/${GCP_SERVICE_ACCOUNT}:generateAccessToken",
  "credential_source": { "file": "$gcp_auth_dir/gitlab-id-token.jwt" }
}
EOF
        ) || return 1
        echo "gcp_auth: Workload Identity Federation as $GCP_SERVICE_ACCOUNT"
    elif [ -n "${GCP_SERVICE_ACCOUNT_KEY:-}" ]; then
        if [ -f "$GCP_SERVICE_ACCOUNT_KEY" ]; then
            gcp_auth_file=$GCP_SERVICE_ACCOUNT_KEY
        else
            # A variable of type Variable holding the JSON itself.
            gcp_auth_file=$gcp_auth_dir/key.json
            (umask 077 && mkdir -p "$gcp_auth_dir") || return 1
            (umask 077 && printf '%s\n' "$GCP_SERVICE_ACCOUNT_KEY" >"$gcp_auth_file") || return 1
        fi
        if ! grep -q '"type": *"service_account"' "$gcp_auth_file"; then
            echo "gcp_auth: GCP_SERVICE_ACCOUNT_KEY is not a service-account key file" >&2
            return 1
        fi
        echo "gcp_auth: service-account key (fallback; prefer Workload Identity Federation)"
    elif [ "${DRY_RUN:-0}" = 1 ]; then
        echo "gcp_auth: DRY_RUN=1 and no credentials: none set up"
        return 0
    else
        echo "gcp_auth: no Google Cloud credentials: set GCP_WORKLOAD_IDENTITY_PROVIDER and GCP_SERVICE_ACCOUNT (with the job's id_tokens GCP_ID_TOKEN), or GCP_SERVICE_ACCOUNT_KEY" >&2
        return 1
    fi

    GOOGLE_APPLICATION_CREDENTIALS=$gcp_auth_file
    CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE=$gcp_auth_file
    export GOOGLE_APPLICATION_CREDENTIALS CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE
    if [ -n "${GCP_PROJECT:-}" ]; then
        CLOUDSDK_CORE_PROJECT=$GCP_PROJECT
        export CLOUDSDK_CORE_PROJECT
    fi
}

gcp_auth
