//! The clients of the external stores that the server and the short commands build from the
//! settings: MongoDB, and S3 and SNS through the AWS SDK.

use anyhow::Context;
use aws_config::{BehaviorVersion, Region};
use secrecy::ExposeSecret;

use super::STORE_WAIT;
use crate::config::Settings;

pub async fn mongo_database(settings: &Settings) -> anyhow::Result<mongodb::Database> {
    let mut options = mongodb::options::ClientOptions::parse(settings.mongodb_url.expose_secret())
        .await
        .context("PETTYSYNC_MONGODB_URL")?;
    options.server_selection_timeout = Some(STORE_WAIT);
    options.app_name = Some("pettysync".to_owned());
    let client = mongodb::Client::with_options(options).context("PETTYSYNC_MONGODB_URL")?;
    Ok(client.database(&settings.mongodb_database()))
}

/// Region and credentials from the settings when given, else the AWS default chain.
pub async fn aws_config(settings: &Settings) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = &settings.aws_region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let (Some(id), Some(secret)) = (&settings.aws_access_key_id, &settings.aws_secret_access_key)
    {
        let credentials = aws_sdk_s3::config::Credentials::new(
            id,
            secret.expose_secret(),
            None,
            None,
            "pettysync-settings",
        );
        loader = loader.credentials_provider(credentials);
    }
    loader.load().await
}

pub fn s3_client(aws: &aws_config::SdkConfig, settings: &Settings) -> aws_sdk_s3::Client {
    let mut config = aws_sdk_s3::config::Builder::from(aws);
    if let Some(endpoint) = &settings.s3_endpoint {
        // S3-compatible servers (MinIO, s3s-fs) want path-style bucket addressing.
        config = config.endpoint_url(endpoint).force_path_style(true);
    }
    aws_sdk_s3::Client::from_conf(config.build())
}

pub fn sns_client(aws: &aws_config::SdkConfig, settings: &Settings) -> aws_sdk_sns::Client {
    let mut config = aws_sdk_sns::config::Builder::from(aws);
    if let Some(endpoint) = &settings.sns_endpoint {
        config = config.endpoint_url(endpoint);
    }
    aws_sdk_sns::Client::from_conf(config.build())
}
