# Sports-1M videos (487 classes), with the Kinetics-400 clip sampling and
# augmentation: 32-frame clips, every 2nd frame, decord. Sports-1M has a train
# and a test split; the test split also validates. Layout:
#   data/sports1m/videos_{train,test}/...  the videos
#   data/sports1m/sports1m_{train,test}_list_videos.txt  "path label"
_base_ = ['kinetics400_32x2x1_video.py']

data_root = 'data/sports1m/videos_train'
data_root_val = 'data/sports1m/videos_test'
ann_file_train = 'data/sports1m/sports1m_train_list_videos.txt'
ann_file_val = 'data/sports1m/sports1m_test_list_videos.txt'
ann_file_test = ann_file_val

train_dataloader = dict(
    dataset=dict(ann_file=ann_file_train, data_prefix=dict(video=data_root)))
val_dataloader = dict(
    dataset=dict(ann_file=ann_file_val, data_prefix=dict(video=data_root_val)))
test_dataloader = dict(
    dataset=dict(
        ann_file=ann_file_test, data_prefix=dict(video=data_root_val)))
